// Red-team fixture: looks for what a training program must not reach (the validation shards, the repository with
// the next record's program, the results store, other runs, the runner's environment, files an earlier run
// left in /tmp), says for each whether it got there, leaves a file in /tmp for the next run, and saves an untrained
// model. Unsandboxed it reaches all of them; in the sandbox, none.
using System.Text;
using Speedrun.Core.Autograd;
using Speedrun.Core.Training;
using Speedrun.Core.Training.Modules;

using var ctx = RunContext.FromEnvironment();
var outDir = Path.GetFullPath(ctx.OutDir);
var repo = Path.GetFullPath(Path.Combine(outDir, "..", ".."));
var trainDir = Path.GetDirectoryName(ctx.Environment.TrainFiles)!;
const string Carried = "/tmp/speedrun-redteam-carried.txt";
var checks = new (string What, Func<string> Try)[]
{
    ("val shards", () => string.Join(",", Directory.GetFiles(trainDir, "*val_*.bin").Select(Path.GetFileName))),
    ("records", () => string.Join(",", Directory.GetDirectories(Path.Combine(repo, "records")).Select(Path.GetFileName))),
    ("results store", () => { using var f = File.Open(Path.Combine(repo, "results", "speedrun.db"), FileMode.Open, FileAccess.ReadWrite); return $"{f.Length} bytes, writable"; }),
    ("other runs", () => string.Join(",", Directory.GetDirectories(Path.Combine(outDir, "..")).Select(Path.GetFileName).Where(d => d != Path.GetFileName(outDir)))),
    ("runner environment", () => Environment.GetEnvironmentVariable("SPEEDRUN_HOME") ?? ""),
    ("carried state", () => File.ReadAllText(Carried)),
};
foreach (var (what, attempt) in checks)
{
    string found;
    try { found = attempt(); }
    catch (Exception e) { found = ""; ctx.Log($"blocked {what}: {e.GetType().Name}"); continue; }
    ctx.Log(found.Length > 0 ? $"reached {what}: {found}" : $"blocked {what}: nothing there");
}
File.WriteAllText(Carried, "left by " + outDir);
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
