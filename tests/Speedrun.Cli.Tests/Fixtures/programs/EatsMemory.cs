// Red-team fixture: allocates and touches 64 MiB blocks until it holds 4 GiB, then saves a model. Under a memory cap
// below that (the test sets 1 GiB) it runs out of memory -> crashed, and the machine keeps its memory.
using Speedrun.Core.Autograd;
using Speedrun.Core.Training;
using Speedrun.Core.Training.Modules;

using var ctx = RunContext.FromEnvironment();
var blocks = new List<byte[]>();
for (int i = 0; i < 64; i++)
{
    var block = GC.AllocateUninitializedArray<byte>(64 << 20);
    Array.Fill(block, (byte)i);
    blocks.Add(block);
}
ctx.Log($"held {blocks.Count * 64} MiB");
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
