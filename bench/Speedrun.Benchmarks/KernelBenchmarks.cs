using BenchmarkDotNet.Attributes;
using Speedrun.Benchmarks.KernelCases;
using DeviceKind = Speedrun.Kernels.Runtime.DeviceKind;
using TorchSharp;

namespace Speedrun.Benchmarks;

/// <summary>
/// What a training step runs that no op spec covers (the engine's ops are timed from their specs by
/// <see cref="OpSpecBenchmarks"/>), on ILGPU's CPU accelerator against TorchSharp's equivalent (the baseline):
/// the cost of one kernel launch, gradient clipping and the AdamW step over a tensor as large as the tiny model,
/// and the three GEMMs of the 50257-wide tied head (the largest products of a tiny step; the linear spec times
/// the blocks' shapes). Each case is validated once in [GlobalSetup] before it is timed; our side synchronises
/// the device inside the benchmark method. Both libraries use every core:
/// torch.set_num_threads(Environment.ProcessorCount), as our CPU GEMM does.
/// Run: dotnet run -c Release --project bench/Speedrun.Benchmarks -- --filter '*KernelBenchmarks*'
/// </summary>
[Config(typeof(KernelConfig))]
public class KernelBenchmarks
{
    public static IEnumerable<KernelCase> Cases =>
    [
        new LaunchOverheadCase(),
        new ClipGradNormCase(),
        new AdamWCase(),
        new TiedHeadGemmCase(HeadProduct.Logits),
        new TiedHeadGemmCase(HeadProduct.InputGrad),
        new TiedHeadGemmCase(HeadProduct.WeightGrad),
    ];

    [ParamsSource(nameof(Cases))]
    public KernelCase Op { get; set; } = new LaunchOverheadCase();

    Device? _device;

    [GlobalSetup]
    public void Setup()
    {
        torch.set_num_threads(Environment.ProcessorCount);
        _device = Device.Create(DeviceKind.Cpu);
        Op.Setup(_device);
        Op.Validate();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        Op.Dispose();
        _device?.Dispose();
        _device = null;
    }

    [Benchmark(Baseline = true, Description = "TorchSharp")]
    public void Torch() => Op.RunTorch();

    [Benchmark(Description = "Speedrun (ILGPU CPU)")]
    public void Speedrun()
    {
        Op.RunOurs();
        _device!.Synchronize();
    }
}

/// <summary>A short job (each case runs for seconds, not minutes) and a throughput column from the case.</summary>
sealed class KernelConfig() : InProcessConfig(
    "Throughput",
    "Work of one call per second: GB/s of the minimal memory traffic (each input read once, each output " +
    "written once) for memory-bound ops, GFLOP/s (dense-equivalent) for products, launches/s for the launch case",
    static (benchmarkCase, seconds) =>
        benchmarkCase.Parameters.Items.Select(p => p.Value).OfType<KernelCase>().FirstOrDefault()?.Throughput(seconds) ?? "NA",
    warmups: 3, iterations: 10);
