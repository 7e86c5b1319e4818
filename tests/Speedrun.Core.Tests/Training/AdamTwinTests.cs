using Speedrun.Tests.Torch;
using TorchSharp;
using static TorchSharp.torch;
using TTensor = TorchSharp.torch.Tensor;
using Parameter = TorchSharp.Modules.Parameter;

namespace Speedrun.Core.Tests.Training;

/// <summary>The twins' Adam gives torch.optim.Adam's weights bit for bit, over steps long enough for the bias
/// corrections to move, at the records' β2 (0.95) and both their ε (1e-8, 1e-10).</summary>
public sealed class AdamTwinTests
{
    [Theory]
    [InlineData(0.9, 1e-8)]
    [InlineData(0.8, 1e-10)]
    public void MatchesTorchAdamBitForBit(double beta1, double eps)
    {
        using var scope = torch.NewDisposeScope();
        Parameter[] Fresh()
        {
            using var g = new Generator(1);
            return [new Parameter(torch.randn([6, 5], ScalarType.Float64, generator: g)), new Parameter(torch.randn([5], ScalarType.Float64, generator: g))];
        }
        var ours = Fresh();
        var theirs = Fresh();
        var twin = new AdamTwin(ours, 0.02, beta1, 0.95, eps);
        var reference = torch.optim.Adam(theirs, 0.02, beta1, 0.95, eps);
        for (int step = 0; step < 6; step++)
        {
            // The same gradients for both: the loss Σ p·w with w drawn afresh each step, cubed so that they differ in size.
            foreach (var set in new[] { ours, theirs })
            {
                using var weights = new Generator((ulong)(100 + step));
                TTensor loss = torch.zeros([], ScalarType.Float64);
                foreach (var p in set)
                {
                    p.grad?.zero_();
                    loss = loss + (p * torch.randn(p.shape, ScalarType.Float64, generator: weights).pow(3)).sum();
                }
                loss.backward();
            }
            twin.Step();
            reference.step();
            for (int i = 0; i < ours.Length; i++)
                Assert.Equal(TensorData.Read<double>(theirs[i]), TensorData.Read<double>(ours[i]));
        }
        // And the weights moved: a twin that did nothing would fail above, unless Adam did nothing too.
        Assert.NotEqual(TensorData.Read<double>(Fresh()[0]), TensorData.Read<double>(ours[0]));
    }
}
