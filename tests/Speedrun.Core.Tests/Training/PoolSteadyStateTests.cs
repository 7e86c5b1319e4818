using Speedrun.Core.Autograd;
using Speedrun.Core.Training.Modules;
using Speedrun.Core.Training.Optimizers;

namespace Speedrun.Core.Tests.Training;

/// <summary>Once every shape of a training step has been seen, a step allocates no device memory: the memory
/// pool serves every tensor from its cache (the engine's promise for timed runs).</summary>
public class PoolSteadyStateTests
{
    [Fact]
    public void TrainingStepsAfterWarmUpAllocateNothing()
    {
        using var device = Device.Create(Speedrun.Kernels.Runtime.DeviceKind.Cpu);
        var program = RecordProgram.Load("01-llmc-baseline");
        var hp = program.Hyperparameters(("Layers", 2), ("Dim", 32), ("HeadDim", 16), ("Vocab", 101), ("SequenceLength", 8));
        using var model = (Module)Activator.CreateInstance(program.Type("Gpt"), device, hp, new Random(0))!;
        var loss = program.Type("Gpt").GetMethod("Loss")!;
        using var optimizer = new AdamW(new AdamW.Group(model.Parameters(), 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f));
        using var clip = new GradClip(device);
        var rng = new Random(1);

        void Step()
        {
            model.ZeroGrad();
            using var scope = new TensorScope();
            var tokens = Enumerable.Range(0, 2 * 8).Select(_ => rng.Next(101)).ToArray();
            var x = Tensor.FromArray(device, tokens, 2, 8);
            var y = Tensor.FromArray(device, tokens.Reverse().ToArray(), 2, 8);
            var l = (Tensor)loss.Invoke(model, [x, y])!;
            l.Backward();
            clip.ClipGradNorm(model.Parameters(), 1f);
            optimizer.Step();
        }

        Step();
        Step();
        long allocations = device.Pool.Allocations;
        for (int i = 0; i < 3; i++) Step();
        Assert.Equal(allocations, device.Pool.Allocations);
        Assert.True(device.Pool.Hits > 0);
    }
}
