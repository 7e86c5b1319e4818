// Verdict fixture: validates once, then throws -> crashed (the exit code is not 0).
using Speedrun.Core.Autograd;
using Speedrun.Core.Training;
using Speedrun.Core.Training.Modules;

using var ctx = RunContext.FromEnvironment();
const int sequenceLength = 64;
using var model = new Bigram(ctx.Device, new Random(ctx.Seed));
ctx.Validate(0, 10, 1, sequenceLength, model.Loss);
throw new InvalidOperationException("fixture: a deliberate crash after the first validation");

sealed class Bigram : Module
{
    readonly Tensor _embedding, _head;

    public Bigram(Device device, Random rng) : base(device)
    {
        _embedding = Parameter("wte", Init.Normal(rng, 50257L * 8, 0.02), 50257, 8);
        _head = Parameter("head", Init.Normal(rng, 50257L * 8, 0.02), 50257, 8);
    }

    public Tensor Loss(Tensor inputs, Tensor targets)
    {
        int rows = inputs.Dim(0) * inputs.Dim(1);
        return F.CrossEntropy(F.Linear(F.Embedding(inputs, _embedding), _head).View(rows, 50257), targets.View(rows));
    }
}
