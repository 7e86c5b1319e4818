// Red-team fixture, forged results: trains nothing, prints a validation line and writes a results.json that
// both claim val_loss 1.0 after 30 steps, and saves its untrained model. Scored from the program's own report it
// was `ok`; the harness evaluates the saved model itself -> missed_target.
using System.Text.Json;
using Speedrun.Core.Autograd;
using Speedrun.Core.Training;
using Speedrun.Core.Training.Modules;

using var ctx = RunContext.FromEnvironment();
using var model = new Bigram(ctx.Device, new Random(ctx.Seed));
ctx.Log("step:30/30 val_loss:1.0000 train_time:1000ms step_avg:50.00ms");
ctx.SaveModel(model);
var forged = new Dictionary<string, object>
{
    ["status"] = "ok", ["n_steps"] = 30, ["val_loss"] = 1.0, ["train_time_ms"] = 1000.0, ["step_avg_ms"] = 50.0,
    ["device"] = "cpu", ["fingerprint"] = "forged", ["seed"] = ctx.Seed, ["track"] = ctx.Track.Name,
    ["target_val_loss"] = ctx.Track.TargetValLoss, ["val_tokens"] = ctx.Environment.ValTokens, ["program"] = "forged",
    ["train_files"] = ctx.Environment.TrainFiles, ["val_files"] = ctx.Environment.ValFiles, ["validations"] = Array.Empty<object>(),
};
File.WriteAllText(Path.Combine(ctx.OutDir, "results.json"), JsonSerializer.Serialize(forged));

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
