// Red-team fixture: prints 20 MiB of text, then saves an untrained model. The runner keeps the first 8 MiB of a
// run's output, so neither the disk nor the store fills.
using Speedrun.Core.Autograd;
using Speedrun.Core.Training;
using Speedrun.Core.Training.Modules;

using var ctx = RunContext.FromEnvironment();
var line = new string('x', 1023);
for (int i = 0; i < 20 * 1024; i++) Console.Out.WriteLine(line);
using var model = new Bigram(ctx.Device, new Random(ctx.Seed));
ctx.SaveModel(model);

sealed class Bigram : Module, ILanguageModel<Bigram>
{
    public const int Vocab = 50257, Dim = 8, SequenceLength = 64;
    readonly Tensor _embedding, _head;

    public Bigram(Device device, Random rng) : base(device)
    {
        _embedding = Parameter("wte", Init.Normal(rng, (long)Vocab * Dim, 0.02), Vocab, Dim);
        _head = Parameter("head", Init.Normal(rng, (long)Vocab * Dim, 0.02), Vocab, Dim);
    }

    public static Bigram Create(Track track, Device device) => new(device, new Random(0));

    public int ContextLength => SequenceLength;

    public Tensor Logits(Tensor inputs) => F.Linear(F.Embedding(inputs, _embedding), _head);

    public Tensor Loss(Tensor inputs, Tensor targets)
    {
        int rows = inputs.Dim(0) * inputs.Dim(1);
        return F.CrossEntropy(Logits(inputs).View(rows, Vocab), targets.View(rows));
    }
}
