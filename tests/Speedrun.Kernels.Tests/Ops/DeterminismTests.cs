using Speedrun.Kernels.Ops;
using static Speedrun.Kernels.Tests.OpCheck;
using static Speedrun.Kernels.Tests.Ops.TorchReference;

namespace Speedrun.Kernels.Tests.Ops;

/// <summary>
/// The reductions run in a fixed order without atomics, so running them twice gives the same bits.
/// (On the CPU accelerator this holds almost by construction; the test pins the property for CUDA runs.)
/// </summary>
public class DeterminismTests
{
    [Fact]
    public void LayerNormBackwardIsBitIdenticalAcrossRuns()
    {
        const int N = 300, C = 64;
        using var x = Upload(Randn(1, N, C));
        using var w = Upload(Randn(2, C));
        using var dy = Upload(Randn(3, N, C));
        using var y = Poisoned(N * C);
        using var mean = Poisoned(N);
        using var rstd = Poisoned(N);
        var ops = Cpu.LayerNorm();
        ops.Forward(x.View, w.View, w.View, N, C, 1e-5f, y.View, mean.View, rstd.View);

        (int[], int[], int[]) Run()
        {
            using var dx = Poisoned(N * C);
            using var dw = Upload(new float[C]);
            using var db = Upload(new float[C]);
            ops.Backward(dy.View, x.View, w.View, mean.View, rstd.View, N, C, dx.View, dw.View, db.View);
            return (Bits(Download(dx)), Bits(Download(dw)), Bits(Download(db)));
        }

        var first = Run();
        var second = Run();
        Assert.Equal(first.Item1, second.Item1);
        Assert.Equal(first.Item2, second.Item2);
        Assert.Equal(first.Item3, second.Item3);
    }

    [Fact]
    public void EmbeddingBackwardIsBitIdenticalAcrossRuns()
    {
        const int B = 4, T = 64, C = 40, V = 17;
        var rng = new Random(5);
        int[] tokens = Enumerable.Range(0, B * T).Select(_ => rng.Next(V)).ToArray();
        using var dOut = Upload(Randn(6, B, T, C));
        var ops = Cpu.Embedding();

        (int[], int[]) Run()
        {
            using var dWte = Upload(new float[V * C]);
            using var dWpe = Upload(new float[T * C]);
            using (var plan = ops.PlanTokenBackward(tokens, V)) ops.TokenBackward(plan, dOut.View, C, dWte.View);
            ops.PositionBackward(dOut.View, B, T, C, dWpe.View);
            return (Bits(Download(dWte)), Bits(Download(dWpe)));
        }

        var first = Run();
        var second = Run();
        Assert.Equal(first.Item1, second.Item1);
        Assert.Equal(first.Item2, second.Item2);
    }
}
