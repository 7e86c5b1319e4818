// Verdict fixture: validates with a loss function that returns NaN; the run context marks the run diverged
// (results.json status "diverged") and throws -> diverged.
using Speedrun.Core.Autograd;
using Speedrun.Core.Training;

using var ctx = RunContext.FromEnvironment();
const int sequenceLength = 64;
ctx.Validate(0, 10, 1, sequenceLength, (inputs, targets) => Tensor.FromArray(ctx.Device, new[] { float.NaN }, 1));
