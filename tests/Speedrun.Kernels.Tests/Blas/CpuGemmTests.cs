using System.Text;
using Speedrun.Kernels.Blas;
using TorchSharp;
using static Speedrun.Kernels.Tests.OpCheck;
using static TorchSharp.torch;

namespace Speedrun.Kernels.Tests.Blas;

/// <summary>
/// The managed GEMM against torch.matmul in float64 on the same (float32-rounded) inputs. Each element's error
/// must stay within 1e-5 of its magnitude |alpha| * sum_k |a||b| + |beta| * |c|; elements of C outside the
/// product (row padding, gaps between batches) must come back untouched.
/// </summary>
public class CpuGemmTests
{
    const double RelTol = 1e-5;

    // M, N, K: edges of the 6 x 64 / 6 x 16 / 4 x 8 tiles, 1-wide and 0-wide sides, several K blocks,
    // a GPT-2 sized product (64 x 768 x 256 in M x N x K, and the other way round).
    public static TheoryData<int, int, int, bool, bool> ShapesAndTransposes()
    {
        var data = new TheoryData<int, int, int, bool, bool>();
        (int M, int N, int K)[] shapes =
        [
            (1, 1, 1), (1, 17, 3), (3, 1, 33), (17, 33, 1), (33, 65, 127), (65, 127, 130), (127, 130, 65),
            (130, 3, 17), (64, 768, 256), (64, 256, 768), (0, 5, 3), (5, 0, 3), (5, 3, 0),
        ];
        foreach (var (m, n, k) in shapes)
            foreach (bool ta in new[] { false, true })
                foreach (bool tb in new[] { false, true })
                    data.Add(m, n, k, ta, tb);
        return data;
    }

    [Theory, MemberData(nameof(ShapesAndTransposes))]
    public void MatchesTorchThroughTheDeviceBlas(int m, int n, int k, bool transA, bool transB)
    {
        // Natural leading dimensions, then larger ones; beta = 0 over a C full of NaN.
        CheckOnDevice(Gemm.Dense(transA, transB, m, n, k), seed: m * 7 + n * 3 + k);
        var padded = new Gemm(transA, transB, m, n, k, (transA ? m : k) + 3, (transB ? k : n) + 5, n + 2);
        CheckOnDevice(padded, seed: m * 11 + n * 5 + k + 1);
    }

    public static TheoryData<float, float> AlphaBeta() => new()
    {
        { 1f, 0f }, { 0.5f, 0f }, { 1f, 1f }, { -1.5f, 0.25f }, { 2f, -1f }, { 0f, 0.5f }, { 0f, 0f },
    };

    [Theory, MemberData(nameof(AlphaBeta))]
    public void ScalesByAlphaAndBeta(float alpha, float beta)
    {
        foreach (var (ta, tb) in new[] { (false, false), (true, true) })
            CheckOnDevice(Gemm.Dense(ta, tb, 33, 130, 300, alpha, beta), seed: 5);
    }

    public static TheoryData<int, int, int, int, bool, bool> Batches() => new()
    {
        // Attention-like: many small heads, T x T x 64 scores and probabilities x values.
        { 24, 64, 64, 64, false, true },
        { 24, 64, 64, 64, false, false },
        { 12, 96, 96, 64, false, true },
        { 12, 96, 64, 96, false, false },
        { 12, 64, 96, 96, true, false },
        { 3, 65, 17, 130, true, true },
        { 1, 40, 50, 60, false, false },
        { 2, 7, 300, 5, true, false },
    };

    [Theory, MemberData(nameof(Batches))]
    public void BatchedWithGapsMatchesTorch(int batch, int m, int n, int k, bool transA, bool transB)
    {
        var g = new Gemm(transA, transB, m, n, k, (transA ? m : k) + 1, (transB ? k : n) + 2, n + 3,
            Alpha: 0.75f, Beta: 0.5f, BatchCount: batch);
        g = g with
        {
            StrideA = (long)(transA ? k : m) * g.Lda + 7,
            StrideB = (long)(transB ? n : k) * g.Ldb + 1,
            StrideC = (long)m * g.Ldc + 4,
        };
        CheckOnDevice(g, seed: batch * 100 + m);
        CheckOnDevice(g with { Beta = 0f }, seed: batch * 100 + m + 1);
    }

    [Fact]
    public void BlockEdgesAndLongSidesMatchTorch()
    {
        // K over several depth blocks, rows over several row blocks, columns over several column blocks and
        // past one packed B block.
        CheckOnDevice(Gemm.Dense(false, false, 250, 1100, 600, 1f, 1f), seed: 21);
        CheckOnDevice(Gemm.Dense(true, true, 250, 1100, 600, -1f, 0f), seed: 22);
        CheckOnDevice(Gemm.Dense(false, true, 7, 4100, 9), seed: 23);
        CheckOnDevice(Gemm.Dense(true, false, 1, 5000, 1000), seed: 24);
    }

    public static TheoryData<int> KernelKinds() =>
        new(Enum.GetValues<CpuGemmKernelKind>().Select(k => (int)k));

    /// <summary>Every micro-kernel this CPU can run, not only the one the device picks.</summary>
    [Theory, MemberData(nameof(KernelKinds))]
    public void EveryKernelMatchesTorch(int kindValue)
    {
        var kind = (CpuGemmKernelKind)kindValue;
        Assert.SkipUnless(CpuGemm.IsSupported(kind), $"{kind} is not supported on this CPU");
        (int M, int N, int K)[] shapes = [(1, 1, 1), (5, 7, 9), (13, 33, 70), (65, 130, 257), (128, 64, 64)];
        foreach (var (m, n, k) in shapes)
            foreach (bool ta in new[] { false, true })
                foreach (bool tb in new[] { false, true })
                {
                    var g = new Gemm(ta, tb, m, n, k, (ta ? m : k) + 1, (tb ? k : n) + 1, n + 1, 1.25f, 0.5f);
                    Check(g, seed: m + n + k, (gg, a, b, c) => RunDirect(gg, a, b, c, kind, threads: 2));
                    Check(g with { Beta = 0f }, seed: m + n + k + 1, (gg, a, b, c) => RunDirect(gg, a, b, c, kind, threads: 1));
                }
    }

    [Fact]
    public void RepeatedCallsAndThreadCountsGiveIdenticalBits()
    {
        var g = Gemm.Dense(false, true, 257, 300, 700, 1.5f, 0f);
        var a = F32(Randn(31, 257 * 700));
        var b = F32(Randn(32, 300 * 700));
        float[] Multiply(int threads)
        {
            var c = Enumerable.Repeat(float.NaN, 257 * 300).ToArray();
            RunDirect(g, a, b, c, CpuGemm.BestKernel, threads);
            return c;
        }
        var first = Multiply(Environment.ProcessorCount);
        Assert.Equal(first, Multiply(Environment.ProcessorCount));
        Assert.Equal(first, Multiply(1));
        Assert.Equal(first, Multiply(3));

        var batched = Gemm.DenseBatched(false, true, 64, 64, 64, 24);
        var ab = F32(Randn(33, 24 * 64 * 64));
        var bb = F32(Randn(34, 24 * 64 * 64));
        var c1 = new float[24 * 64 * 64];
        var c2 = new float[24 * 64 * 64];
        RunDirect(batched, ab, bb, c1, CpuGemm.BestKernel, Environment.ProcessorCount);
        RunDirect(batched, ab, bb, c2, CpuGemm.BestKernel, 1);
        Assert.Equal(c1, c2);
    }

    [Fact]
    public void KZeroOnlyScalesC()
    {
        var c = Upload(new[] { 1f, float.NaN, 3f, 4f });
        using var empty = Upload(new float[1]);
        Cpu.Blas.Gemm(new Gemm(false, false, 2, 2, 0, 1, 2, 2, Alpha: 1f, Beta: 0f), empty.View, empty.View, c.View);
        Assert.Equal(new[] { 0f, 0f, 0f, 0f }, Download(c));
        c.CopyFromCPU(new[] { 1f, 2f, 3f, 4f });
        Cpu.Blas.Gemm(new Gemm(false, false, 2, 2, 0, 1, 2, 2, Alpha: 1f, Beta: -2f), empty.View, empty.View, c.View);
        Assert.Equal(new[] { -2f, -4f, -6f, -8f }, Download(c));
        c.Dispose();
    }

    [Fact]
    public void DescribesItsInstructionSet()
    {
        Assert.False(string.IsNullOrWhiteSpace(CpuGemm.InstructionSet));
        Assert.Contains(CpuGemm.InstructionSet, Cpu.Blas.Description);
    }

    static unsafe void RunDirect(in Gemm g, float[] a, float[] b, float[] c, CpuGemmKernelKind kind, int threads)
    {
        fixed (float* pa = a, pb = b, pc = c)
            CpuGemm.Run(g, pa, pb, pc, kind, threads);
    }

    static void CheckOnDevice(Gemm g, int seed) => Check(g, seed, (gg, a, b, c) =>
    {
        using var da = Upload(a.Length == 0 ? new float[1] : a);
        using var db = Upload(b.Length == 0 ? new float[1] : b);
        using var dc = Upload(c.Length == 0 ? new float[1] : c);
        Cpu.Blas.Gemm(gg, da.View, db.View, dc.View);
        var result = Download(dc);
        Array.Copy(result, c, c.Length);
    });

    /// <summary>
    /// Builds random stored operands for <paramref name="g"/> (with its leading dimensions and batch strides),
    /// runs <paramref name="run"/> on them, and compares C with torch in float64.
    /// </summary>
    static void Check(Gemm g, int seed, Action<Gemm, float[], float[], float[]> run)
    {
        int batches = Math.Max(1, g.BatchCount);
        int aRows = g.TransA ? g.K : g.M, aCols = g.TransA ? g.M : g.K;
        int bRows = g.TransB ? g.N : g.K, bCols = g.TransB ? g.K : g.N;
        long strideA = batches > 1 ? g.StrideA : (long)aRows * g.Lda;
        long strideB = batches > 1 ? g.StrideB : (long)bRows * g.Ldb;
        long strideC = batches > 1 ? g.StrideC : (long)g.M * g.Ldc;
        var a = F32(Randn(seed, batches * strideA));
        var b = F32(Randn(seed + 1000, batches * strideB));
        var c = F32(Randn(seed + 2000, batches * strideC));
        bool[] inC = new bool[c.Length];
        for (int bt = 0; bt < batches; bt++)
            for (int i = 0; i < g.M; i++)
                for (int j = 0; j < g.N; j++)
                    inC[bt * strideC + (long)i * g.Ldc + j] = true;
        if (g.Beta == 0f)
            for (int i = 0; i < c.Length; i++)
                if (inC[i]) c[i] = float.NaN; // beta = 0 must not read C
        var before = (float[])c.Clone();

        run(g, a, b, c);

        Tensor View(float[] flat, int rows, int cols, long ld, long stride) =>
            torch.tensor(flat.Select(v => (double)v).ToArray(), ScalarType.Float64)
                .as_strided([batches, rows, cols], [stride, ld, 1]);
        using var scope = torch.NewDisposeScope();
        var opA = View(a, aRows, aCols, g.Lda, strideA);
        var opB = View(b, bRows, bCols, g.Ldb, strideB);
        if (g.TransA) opA = opA.transpose(1, 2);
        if (g.TransB) opB = opB.transpose(1, 2);
        var c0 = View(before, g.M, g.N, g.Ldc, strideC);
        var expected = g.Alpha * torch.matmul(opA, opB);
        var magnitude = Math.Abs(g.Alpha) * torch.matmul(opA.abs(), opB.abs());
        if (g.Beta != 0f)
        {
            expected += g.Beta * c0;
            magnitude += Math.Abs(g.Beta) * c0.abs();
        }
        // (TorchSharp cannot read an empty tensor back; an empty C has nothing to compare.)
        var exp = expected.numel() == 0 ? [] : F64(expected);
        var mag = magnitude.numel() == 0 ? [] : F64(magnitude);

        var what = $"M={g.M} N={g.N} K={g.K} transA={g.TransA} transB={g.TransB} lda={g.Lda} ldb={g.Ldb} " +
                   $"ldc={g.Ldc} alpha={g.Alpha} beta={g.Beta} batch={g.BatchCount}";
        int bad = 0, idx = 0;
        var report = new StringBuilder();
        for (int bt = 0; bt < batches; bt++)
            for (int i = 0; i < g.M; i++)
                for (int j = 0; j < g.N; j++, idx++)
                {
                    float got = c[bt * strideC + (long)i * g.Ldc + j];
                    double allowed = RelTol * mag[idx] + 1e-30;
                    if (!(Math.Abs(got - exp[idx]) <= allowed) && bad++ < 5)
                        report.AppendLine($"  [{bt},{i},{j}] expected {exp[idx]:G9} got {got:G9} (allowed {allowed:G3})");
                }
        Assert.True(bad == 0, $"{what}: {bad} elements off\n{report}");
        for (int i = 0; i < c.Length; i++)
            if (!inC[i])
                Assert.True(BitConverter.SingleToInt32Bits(before[i]) == BitConverter.SingleToInt32Bits(c[i]),
                    $"{what}: element {i} outside C was changed");
    }
}
