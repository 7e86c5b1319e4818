// Red-team fixture, work hidden in an untimed region: the ladder's record 1 (70 optimizer steps at its cautious
// rate), but 50 of them run inside the 10 warm-up steps that the program's own clock leaves untimed, so its
// train_time counts only 20, as record 2's does. The harness times the whole training process -> ok, with all 70
// steps in its time. It logs how long the hidden steps took.
using Speedrun.Core.Autograd;
using Speedrun.Core.Training;
using Speedrun.Core.Training.Modules;
using Speedrun.Core.Training.Optimizers;

using var ctx = RunContext.FromEnvironment();
const int Batch = 1;
int steps = 10 + 20;       // 10 untimed warm-up steps (by the program's clock), then 20 timed ones
const int HiddenPerStep = 5; // optimizer steps in each warm-up step: 50 untimed, 20 timed, 70 in all
float learningRate = 0.03f;

var rng = new Random(ctx.Seed);
double hiddenMs = 0;
using var model = new Bigram(ctx.Device, rng);
using var optimizer = new AdamW(new AdamW.Group(model.Parameters(), learningRate, weightDecay: 0f));
for (int step = 0; step <= steps; step++)
{
    bool last = step == steps;
    if (last || step % ctx.Track.ValEvery == 0)
        ctx.Validate(step, steps, Batch, Bigram.SequenceLength, model.Loss);
    if (last) break;
    ctx.StepStarting(step);
    var watch = System.Diagnostics.Stopwatch.StartNew();
    for (int k = 0; k < (step < 10 ? HiddenPerStep : 1); k++)
    {
        model.ZeroGrad();
        using var scope = new TensorScope();
        var (x, y) = ctx.NextTrainBatch(0, 1, Batch, Bigram.SequenceLength);
        var loss = model.Loss(x, y);
        loss.Backward(1f);
        if (k == 0) ctx.AddTrainLoss(loss, 1f);
        optimizer.Step();
    }
    if (step < 10) hiddenMs += watch.Elapsed.TotalMilliseconds;
    ctx.StepFinished(step, steps);
}
ctx.Log($"hidden: {hiddenMs:F0} ms of untimed training");
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
