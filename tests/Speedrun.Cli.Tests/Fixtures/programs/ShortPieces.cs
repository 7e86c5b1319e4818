// Red-team fixture: MissedTarget's bigram whose pieces of logits leave out the last position of every batch.
// The evaluation process stops with a message naming LogitsInPieces -> invalid.
using Speedrun.Core.Autograd;
using Speedrun.Core.Training;
using Speedrun.Core.Training.Modules;

using var ctx = RunContext.FromEnvironment();
using var model = new Bigram(ctx.Device, new Random(ctx.Seed));
ctx.Validate(0, 0, 1, Bigram.SequenceLength, model.Loss);
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

    public IEnumerable<Tensor> LogitsInPieces(Tensor inputs)
    {
        int rows = inputs.Dim(0) * inputs.Dim(1);
        var hidden = F.Embedding(inputs, _embedding).View(rows, Dim);
        yield return F.Linear(hidden.Narrow(0, 0, rows - 1), _head);
    }

    public Tensor Loss(Tensor inputs, Tensor targets)
    {
        int rows = inputs.Dim(0) * inputs.Dim(1);
        return F.CrossEntropy(Logits(inputs).View(rows, Vocab), targets.View(rows));
    }
}
