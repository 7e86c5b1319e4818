using Speedrun.Core.Autograd;

namespace Speedrun.Core.Tests.Autograd;

/// <summary>
/// F.Checkpoint (torch.utils.checkpoint): a loss taken in checkpointed chunks gives the plain loss and the same
/// gradients, for the chunk's input and for the captured parameters, also under bf16 autocast; the function runs
/// once forward and once more in backward; misuse is named.
/// </summary>
public class GradientCheckpointTests
{
    static Device Cpu => Kernels.Tests.OpCheck.Cpu;

    static float[] Data(int seed, int n, float scale = 1f)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1) * scale).ToArray();
    }

    static void Close(float[] expected, float[] actual, double tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = expected.Max(Math.Abs);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance * scale,
                $"{what}[{i}]: {actual[i]} against {expected[i]} (max |x| {scale})");
    }

    /// <summary>(loss, dx, dW) of cross-entropy over x Wᵀ, plainly or in checkpointed chunks of rows.</summary>
    static (float Loss, float[] Dx, float[] Dw, int Calls) Run(int[] chunkRows, MatmulPrecision precision)
    {
        const int N = 11, C = 6, V = 13;
        using var scope = new TensorScope();
        var x = Tensor.FromArray(Cpu, Data(1, N * C), N, C);
        x.RequiresGrad = true;
        using var w = Tensor.Parameter(Cpu, "w", Data(2, V * C, 0.5f), V, C);
        var targets = Tensor.FromArray(Cpu, Enumerable.Range(0, N).Select(i => i * 7 % V).ToArray(), N);
        int calls = 0;
        Tensor loss;
        using (Autocast.Use(precision))
        {
            if (chunkRows.Length == 0) loss = F.CrossEntropy(F.Linear(x, w), targets);
            else
            {
                loss = Tensor.Zeros(Cpu, 1);
                int start = 0;
                foreach (int rows in chunkRows)
                {
                    var t = targets.Narrow(0, start, rows);
                    float weight = rows / (float)N;
                    loss = loss + F.Checkpoint(h => { calls++; return F.CrossEntropy(F.Linear(h[0], w), t) * weight; }, x.Narrow(0, start, rows));
                    start += rows;
                }
                Assert.Equal(N, start);
            }
        }
        loss.Backward();
        return (loss.Item(), x.Grad!.ToArray(), w.Grad!.ToArray(), calls);
    }

    [Theory]
    [InlineData(MatmulPrecision.F32, 2e-6)]
    [InlineData(MatmulPrecision.BF16, 2e-6)]
    public void ChunkedCheckpointedLossEqualsThePlainLoss(MatmulPrecision precision, double tolerance)
    {
        var plain = Run([], precision);
        var chunked = Run([4, 4, 3], precision);
        Assert.Equal(plain.Loss, chunked.Loss, 5);
        Close(plain.Dx, chunked.Dx, tolerance, "dx");
        Close(plain.Dw, chunked.Dw, tolerance, "dW");
        Assert.Equal(6, chunked.Calls); // 3 chunks, each run forward and again in backward
    }

    /// <summary>Recomputing under the forward's precision matters: bf16 and fp32 gradients differ here, so a
    /// backward that forgot the forward's autocast would not match the plain bf16 run above.</summary>
    [Fact]
    public void TheCaseCanTellBf16FromFp32()
    {
        var f32 = Run([], MatmulPrecision.F32);
        var bf16 = Run([], MatmulPrecision.BF16);
        double worst = f32.Dw.Zip(bf16.Dw, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(worst > 1e-4 * f32.Dw.Max(Math.Abs), $"bf16 and fp32 gradients differ by only {worst}");
    }

    [Fact]
    public void AFunctionWithoutAGraphIsNamed()
    {
        using var scope = new TensorScope();
        var x = Tensor.FromArray(Cpu, Data(3, 4), 4);
        x.RequiresGrad = true;
        var constant = Tensor.FromArray(Cpu, [1f], 1);
        var y = F.Checkpoint(_ => constant * 2f, x) + x.Sum();
        var e = Assert.Throws<InvalidOperationException>(() => y.Backward());
        Assert.Contains("checkpoint", e.Message);
        Assert.Contains("no graph when recomputed", e.Message);
    }
}
