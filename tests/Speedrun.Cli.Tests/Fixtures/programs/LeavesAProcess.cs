// Red-team fixture: starts a process that would outlive the run (a shell sleeping 417 s, detached in a session
// of its own), then saves an untrained model and exits. Every process of a run must die with it.
using System.Diagnostics;
using Speedrun.Core.Autograd;
using Speedrun.Core.Training;
using Speedrun.Core.Training.Modules;

using var ctx = RunContext.FromEnvironment();
var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, RedirectStandardOutput = true };
psi.ArgumentList.Add("-c");
psi.ArgumentList.Add("setsid sleep 417 < /dev/null > /dev/null 2>&1 &");
Process.Start(psi)!.WaitForExit();
ctx.Log("left behind: sleep 417");
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
