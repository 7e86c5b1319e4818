// Red-team fixture: writes 64 MiB into its run folder, a MiB at a time over about 4 seconds, then saves a model.
// A run folder has a size limit (the test sets 16 MiB) -> invalid, stopped.
using Speedrun.Core.Autograd;
using Speedrun.Core.Training;
using Speedrun.Core.Training.Modules;

using var ctx = RunContext.FromEnvironment();
using (var f = File.Create(Path.Combine(ctx.OutDir, "ballast.bin")))
    for (int i = 0; i < 64; i++)
    {
        f.Write(new byte[1 << 20]);
        f.Flush();
        Thread.Sleep(60);
    }
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
