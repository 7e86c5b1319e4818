// Fixture record 2 of the test ladder (not a speedrun record): record 1 with twice the learning rate, which
// reaches the same target in a third of the timed steps (20 instead of 60): the change that task 1 asks
// an agent to find.
using Speedrun.Core.Autograd;
using Speedrun.Core.Training;
using Speedrun.Core.Training.Modules;
using Speedrun.Core.Training.Optimizers;

using var ctx = RunContext.FromEnvironment();
const int Vocab = 50257, Dim = 16, Batch = 1;
const int sequenceLength = 64;
int steps = 10 + 20;       // the run context leaves the first 10 steps untimed
float learningRate = 0.06f;

var rng = new Random(ctx.Seed);
using var model = new Bigram(ctx.Device, Vocab, Dim, rng);
using var optimizer = new AdamW(new AdamW.Group(model.Parameters(), learningRate, weightDecay: 0f));
for (int step = 0; step <= steps; step++)
{
    bool last = step == steps;
    if (last || step % ctx.Track.ValEvery == 0)
        ctx.Validate(step, steps, Batch, sequenceLength, model.Loss);
    if (last) break;
    ctx.StepStarting(step);
    model.ZeroGrad();
    using var scope = new TensorScope();
    var (x, y) = ctx.NextTrainBatch(0, 1, Batch, sequenceLength);
    var loss = model.Loss(x, y);
    loss.Backward(1f);
    ctx.AddTrainLoss(loss, 1f);
    optimizer.Step();
    ctx.StepFinished(step, steps);
}
ctx.Finish();

sealed class Bigram : Module
{
    readonly Tensor _embedding, _head;
    readonly int _vocab;

    public Bigram(Device device, int vocab, int dim, Random rng) : base(device)
    {
        _vocab = vocab;
        _embedding = Parameter("wte", Init.Normal(rng, (long)vocab * dim, 0.02), vocab, dim);
        _head = Parameter("head", Init.Normal(rng, (long)vocab * dim, 0.02), vocab, dim);
    }

    public Tensor Loss(Tensor inputs, Tensor targets)
    {
        int rows = inputs.Dim(0) * inputs.Dim(1);
        var logits = F.Linear(F.Embedding(inputs, _embedding), _head);
        return F.CrossEntropy(logits.View(rows, _vocab), targets.View(rows));
    }
}
