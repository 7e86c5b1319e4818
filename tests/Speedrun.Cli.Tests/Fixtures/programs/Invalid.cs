// Verdict fixture: halves SPEEDRUN_VAL_TOKENS before opening the run context, so it validates on fewer tokens
// than the runner gave it; otherwise a normal run that reaches the target -> invalid (the contract is broken).
using Speedrun.Core.Autograd;
using Speedrun.Core.Training;
using Speedrun.Core.Training.Modules;
using Speedrun.Core.Training.Optimizers;

var given = long.Parse(Environment.GetEnvironmentVariable("SPEEDRUN_VAL_TOKENS")!);
Environment.SetEnvironmentVariable("SPEEDRUN_VAL_TOKENS", (given / 2).ToString());
using var ctx = RunContext.FromEnvironment();
const int sequenceLength = 64;
int steps = 10 + 20;
using var model = new Bigram(ctx.Device, new Random(ctx.Seed));
using var optimizer = new AdamW(new AdamW.Group(model.Parameters(), 0.06f, weightDecay: 0f));
for (int step = 0; step <= steps; step++)
{
    if (step == steps) { ctx.Validate(step, steps, 1, sequenceLength, model.Loss); break; }
    ctx.StepStarting(step);
    model.ZeroGrad();
    using var scope = new TensorScope();
    var (x, y) = ctx.NextTrainBatch(0, 1, 1, sequenceLength);
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

    public Bigram(Device device, Random rng) : base(device)
    {
        _embedding = Parameter("wte", Init.Normal(rng, 50257L * 16, 0.02), 50257, 16);
        _head = Parameter("head", Init.Normal(rng, 50257L * 16, 0.02), 50257, 16);
    }

    public Tensor Loss(Tensor inputs, Tensor targets)
    {
        int rows = inputs.Dim(0) * inputs.Dim(1);
        return F.CrossEntropy(F.Linear(F.Embedding(inputs, _embedding), _head).View(rows, 50257), targets.View(rows));
    }
}
