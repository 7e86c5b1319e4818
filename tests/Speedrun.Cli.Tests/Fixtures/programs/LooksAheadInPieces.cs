// Red-team fixture, LooksAhead answering in pieces of logits (ILanguageModel.LogitsInPieces), so the causality
// probe must compare piece by piece. A model that looks ahead: its logits at position t get a bonus for the token at t + 1,
// which it reads from its own input, so its validation loss is near 0 without any training. Scored from its own
// validation it was `ok`; the harness's causality probe changes the tokens after random cut points and sees the
// logits before them move -> invalid.
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

    /// <summary>The honest logits, plus a large bonus at each position for the token that comes next in the same
    /// sequence: it reads the answer from the input.</summary>
    public Tensor Logits(Tensor inputs)
    {
        var logits = F.Linear(F.Embedding(inputs, _embedding), _head);
        int b = inputs.Dim(0), t = inputs.Dim(1);
        var tokens = inputs.ToIntArray();
        var bonus = new float[(long)b * t * Vocab];
        for (int r = 0; r < b; r++)
            for (int i = 0; i + 1 < t; i++)
                bonus[((long)r * t + i) * Vocab + tokens[r * t + i + 1]] = 30f;
        return logits + Tensor.FromArray(Device, bonus, b, t, Vocab);
    }

    /// <summary>Its logits in two pieces.</summary>
    public IEnumerable<Tensor> LogitsInPieces(Tensor inputs)
    {
        int rows = inputs.Dim(0) * inputs.Dim(1);
        var all = Logits(inputs).View(rows, Vocab);
        yield return all.Narrow(0, 0, rows / 2);
        yield return all.Narrow(0, rows / 2, rows - rows / 2);
    }

    public Tensor Loss(Tensor inputs, Tensor targets)
    {
        int rows = inputs.Dim(0) * inputs.Dim(1);
        return F.CrossEntropy(Logits(inputs).View(rows, Vocab), targets.View(rows));
    }
}
