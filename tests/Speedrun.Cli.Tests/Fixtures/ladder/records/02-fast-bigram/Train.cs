// Fixture record 2 of the test ladder (not a speedrun record): record 1 with twice the learning rate, which
// reaches the same target in a third of the timed steps (20 instead of 60): the change that task 1 asks
// an agent to find.
using Speedrun.Core.Autograd;
using Speedrun.Core.Training;
using Speedrun.Core.Training.Modules;
using Speedrun.Core.Training.Optimizers;

using var ctx = RunContext.FromEnvironment();
const int Batch = 4;
int steps = 10 + 20;       // the first 10 steps are warm-up, as in the records
float learningRate = 0.06f;

var rng = new Random(ctx.Seed);
using var model = new Bigram(ctx.Device, rng);
using var optimizer = new AdamW(new AdamW.Group(model.Parameters(), learningRate, weightDecay: 0f));
for (int step = 0; step <= steps; step++)
{
    bool last = step == steps;
    if (last || step % ctx.Track.ValEvery == 0)
        ctx.Validate(step, steps, Batch, Bigram.SequenceLength, model.Loss);
    if (last) break;
    ctx.StepStarting(step);
    model.ZeroGrad();
    using var scope = new TensorScope();
    var (x, y) = ctx.NextTrainBatch(0, 1, Batch, Bigram.SequenceLength);
    var loss = model.Loss(x, y);
    loss.Backward(1f);
    ctx.AddTrainLoss(loss, 1f);
    optimizer.Step();
    ctx.StepFinished(step, steps);
}
ctx.SaveModel(model);

sealed class Bigram : Module, ILanguageModel<Bigram>
{
    public const int Vocab = 50257, Dim = 16, SequenceLength = 64;
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
