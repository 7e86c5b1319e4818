using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Speedrun.Kernels.Blas;
using TorchSharp;
using static TorchSharp.torch;

namespace Speedrun.Benchmarks;

/// <summary>
/// fp32 GEMM on the CPU: our managed SIMD GEMM against libtorch (TorchSharp) on the same shapes, both on every
/// core (torch.set_num_threads(Environment.ProcessorCount)). Shapes read M x K x N: C[M,N] = A[M,K] B[K,N].
/// TorchSharp's torch.matmul is the baseline; its in-place addmm_ (C = A B into an existing C, as ours
/// does) is shown too, since matmul also pays for allocating a fresh C every call.
/// Run: dotnet run -c Release --project bench/Speedrun.Benchmarks -- --filter '*Gemm*'
/// </summary>
[Config(typeof(GemmConfig))]
public class GemmBenchmarks
{
    public static IEnumerable<GemmShape> Shapes =>
    [
        new(1, 1024, 1024, 1024),
        new(1, 4096, 768, 3072),
        new(1, 4096, 3072, 768),
        new(1, 4096, 768, 768),
    ];

    [ParamsSource(nameof(Shapes))]
    public GemmShape MxKxN { get; set; } = new(1, 1, 1, 1);

    readonly GemmOperands _ops = new();

    [GlobalSetup]
    public void Setup() => _ops.Setup(MxKxN, transB: false);

    [GlobalCleanup]
    public void Cleanup() => _ops.Dispose();

    [Benchmark(Baseline = true, Description = "TorchSharp matmul")]
    public void TorchMatmul() => _ops.TorchMatmul();

    [Benchmark(Description = "TorchSharp addmm_ (in place)")]
    public void TorchAddmmInPlace() => _ops.TorchAddmm();

    [Benchmark(Description = "Speedrun CpuGemm")]
    public void SpeedrunCpuGemm() => _ops.Ours();
}

/// <summary>
/// The batched products of attention (per head: scores = Q K^T, then P V), B x M x K x N per head; B
/// reads the batch count, K^T is a transposed operand (a strided view for torch).
/// </summary>
[Config(typeof(GemmConfig))]
public class BatchedGemmBenchmarks
{
    public static IEnumerable<GemmShape> Shapes =>
    [
        new(24, 64, 64, 64, TransB: true),
        new(12, 1024, 64, 1024, TransB: true),
        new(12, 1024, 1024, 64),
    ];

    [ParamsSource(nameof(Shapes))]
    public GemmShape BxMxKxN { get; set; } = new(1, 1, 1, 1);

    readonly GemmOperands _ops = new();

    [GlobalSetup]
    public void Setup() => _ops.Setup(BxMxKxN, BxMxKxN.TransB);

    [GlobalCleanup]
    public void Cleanup() => _ops.Dispose();

    [Benchmark(Baseline = true, Description = "TorchSharp matmul")]
    public void TorchMatmul() => _ops.TorchMatmul();

    [Benchmark(Description = "Speedrun CpuGemm")]
    public void SpeedrunCpuGemm() => _ops.Ours();
}

/// <summary>One GEMM shape; its text is what the parameter column shows.</summary>
public sealed record GemmShape(int Batch, int M, int K, int N, bool TransB = false)
{
    public double Flops => 2.0 * Batch * M * K * N;

    public override string ToString() =>
        (Batch > 1 ? $"{Batch}x" : "") + $"{M}x{K}x{N}" + (TransB ? " (B^T)" : "");
}

/// <summary>Operands of one shape for both libraries, uniform in [-0.5, 0.5): 64-byte aligned native buffers for
/// ours, tensors for torch.</summary>
sealed unsafe class GemmOperands : IDisposable
{
    float* _a, _b, _c;
    Gemm _gemm;
    Tensor? _ta, _tb, _tc;

    public void Setup(GemmShape s, bool transB)
    {
        torch.set_num_threads(Environment.ProcessorCount);
        _gemm = Gemm.DenseBatched(false, transB, s.M, s.N, s.K, s.Batch);
        long la = (long)s.Batch * s.M * s.K, lb = (long)s.Batch * s.K * s.N, lc = (long)s.Batch * s.M * s.N;
        _a = Alloc(la);
        _b = Alloc(lb);
        _c = Alloc(lc);
        var rng = new Random(1);
        for (long i = 0; i < la; i++) _a[i] = (float)rng.NextDouble() - 0.5f;
        for (long i = 0; i < lb; i++) _b[i] = (float)rng.NextDouble() - 0.5f;
        _ta = torch.rand(s.Batch, s.M, s.K) - 0.5;
        // For B^T torch gets a transposed view of a stored N x K matrix, as ours reads it.
        _tb = transB ? (torch.rand(s.Batch, s.N, s.K) - 0.5).transpose(1, 2) : torch.rand(s.Batch, s.K, s.N) - 0.5;
        _tc = torch.zeros(s.Batch, s.M, s.N);
        if (s.Batch == 1)
        {
            _ta = _ta.squeeze(0);
            _tb = _tb.squeeze(0);
            _tc = _tc.squeeze(0);
        }
    }

    public void TorchMatmul()
    {
        using var c = torch.matmul(_ta!, _tb!);
    }

    public void TorchAddmm() => _tc!.addmm_(_ta!, _tb!, beta: 0, alpha: 1);

    public void Ours() => CpuGemm.Run(_gemm, _a, _b, _c);

    static float* Alloc(long floats) => (float*)NativeMemory.AlignedAlloc((nuint)(floats * sizeof(float)), 64);

    public void Dispose()
    {
        NativeMemory.AlignedFree(_a);
        NativeMemory.AlignedFree(_b);
        NativeMemory.AlignedFree(_c);
        _a = _b = _c = null;
        _ta?.Dispose();
        _tb?.Dispose();
        _tc?.Dispose();
    }
}

/// <summary>In-process runs (libtorch is 600 MB: no copy of it per benchmark process), a fixed short job, and
/// a GFLOP/s column computed from the shape and the mean time.</summary>
sealed class GemmConfig : ManualConfig
{
    public GemmConfig()
    {
        AddJob(Job.Default
            .WithToolchain(InProcessEmitToolchain.Instance)
            .WithLaunchCount(1)
            .WithWarmupCount(4)
            .WithIterationCount(15)
            .WithId("InProcess"));
        AddColumn(new GflopsColumn());
        SummaryStyle = SummaryStyle.Default.WithMaxParameterColumnWidth(32);
    }

    sealed class GflopsColumn : IColumn
    {
        public string Id => "GFLOPs";
        public string ColumnName => "GFLOP/s";
        public bool AlwaysShow => true;
        public ColumnCategory Category => ColumnCategory.Custom;
        public int PriorityInCategory => 0;
        public bool IsNumeric => true;
        public UnitType UnitType => UnitType.Dimensionless;
        public string Legend => "2*B*M*K*N / mean time, in 1e9 floating-point operations per second";
        public bool IsAvailable(Summary summary) => true;
        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) =>
            GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            var report = summary[benchmarkCase];
            var shape = benchmarkCase.Parameters.Items.Select(p => p.Value).OfType<GemmShape>().FirstOrDefault();
            if (report?.ResultStatistics is not { } stats || shape is null) return "NA";
            return (shape.Flops / stats.Mean).ToString("F1"); // flops per ns = GFLOP/s
        }
    }
}
