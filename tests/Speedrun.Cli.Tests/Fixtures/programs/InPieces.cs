// Evaluation fixture: MissedTarget's untrained bigram, answering the harness in pieces of logits
// (ILanguageModel.LogitsInPieces): its harness val_loss must equal MissedTarget's, which answers in one piece.
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

    /// <summary>The same logits in three uneven pieces (one position, then half the rest, then the rest), each
    /// computed in a scope of its own from hidden states computed once.</summary>
    public IEnumerable<Tensor> LogitsInPieces(Tensor inputs)
    {
        int rows = inputs.Dim(0) * inputs.Dim(1);
        var hidden = F.Embedding(inputs, _embedding).View(rows, Dim);
        int[] sizes = rows == 1 ? [1] : [1, (rows - 1) / 2, rows - 1 - (rows - 1) / 2];
        int start = 0;
        foreach (int size in sizes.Where(s => s > 0))
        {
            using var scope = new TensorScope();
            yield return F.Linear(hidden.Narrow(0, start, size), _head);
            start += size;
        }
    }

    public Tensor Loss(Tensor inputs, Tensor targets)
    {
        int rows = inputs.Dim(0) * inputs.Dim(1);
        return F.CrossEntropy(Logits(inputs).View(rows, Vocab), targets.View(rows));
    }
}
