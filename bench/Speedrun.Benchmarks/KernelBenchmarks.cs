using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using Speedrun.Benchmarks.KernelCases;
using DeviceKind = Speedrun.Kernels.Device.DeviceKind;
using TorchSharp;

namespace Speedrun.Benchmarks;

/// <summary>
/// Every kernel family on ILGPU's CPU accelerator against TorchSharp's equivalent (the baseline), at the
/// shapes one tiny-track training step of record 1 gives it (see <see cref="TinyShapes"/>), with the
/// throughput each achieves. Each case is validated against TorchSharp once in [GlobalSetup] before it is
/// timed; our side synchronises the device inside the benchmark method. Both libraries use every core:
/// torch.set_num_threads(Environment.ProcessorCount), as our CPU GEMM does.
/// Run: dotnet run -c Release --project bench/Speedrun.Benchmarks -- --filter '*Kernel*'
/// </summary>
[Config(typeof(KernelConfig))]
public class KernelBenchmarks
{
    public static IEnumerable<KernelCase> Cases =>
    [
        new LaunchOverheadCase(),
        new AddCase(),
        new AccumulateCase(),
        new SumCase(),
        new GradNormCase(),
        new RmsNormCase(backward: false),
        new RmsNormCase(backward: true),
        new LayerNormCase(backward: false),
        new LayerNormCase(backward: true),
        new GeluCase(backward: false),
        new GeluCase(backward: true),
        new SoftmaxCase(backward: false),
        new SoftmaxCase(backward: true),
        new EmbeddingCase(backward: false),
        new EmbeddingCase(backward: true),
        new AttentionCase(backward: false),
        new AttentionCase(backward: true),
        new CrossEntropyCase(withGrad: false),
        new CrossEntropyCase(withGrad: true),
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
