using BenchmarkDotNet.Attributes;
using Speedrun.Benchmark.OpSpecs;
using TorchSharp;
using DeviceKind = Speedrun.Kernels.Runtime.DeviceKind;

namespace Speedrun.Benchmarks;

/// <summary>
/// Every engine op, from its spec (src/Speedrun.Benchmark/OpSpecs): forward + backward of the spec's BenchCase
/// (the shape one tiny-track training step of record 1 gives the op) through our engine on ILGPU's CPU accelerator,
/// against the spec's TorchSharp expression in float32 with autograd's backward (the baseline). Each case is
/// validated against TorchSharp once in [GlobalSetup] before it is timed; our side synchronises the device inside
/// the benchmark method. Both libraries use every core: torch.set_num_threads(Environment.ProcessorCount), as our
/// CPU GEMM does. Adding a spec adds its benchmark.
/// Run: dotnet run -c Release --project bench/Speedrun.Benchmarks -- --filter '*OpSpec*' [--ops gelu,softmax]
/// (--ops keeps the named specs only; BenchmarkDotNet's filters do not see parameter values).
/// </summary>
[Config(typeof(OpSpecConfig))]
public class OpSpecBenchmarks
{
    /// <summary>The spec names --ops keeps (null: every spec).</summary>
    public static IReadOnlySet<string>? Only { get; set; }

    public static IEnumerable<OpSpecCase> Cases =>
        AllOpSpecs.All.Where(spec => Only is null || Only.Contains(spec.Name)).Select(spec => new OpSpecCase(spec));

    [ParamsSource(nameof(Cases))]
    public OpSpecCase Op { get; set; } = new(AllOpSpecs.All[0]);

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
    public void Speedrun() => Op.RunOurs();
}

/// <summary>A short job (each case runs for seconds, not minutes) and a throughput column from the case.</summary>
sealed class OpSpecConfig() : InProcessConfig(
    "Throughput",
    "GB/s of the minimal memory traffic of forward + backward: inputs read and outputs written, output gradients " +
    "read and input gradients written, once each (the same formula for both libraries, so its ratio is the time ratio)",
    static (benchmarkCase, seconds) =>
        benchmarkCase.Parameters.Items.Select(p => p.Value).OfType<OpSpecCase>().FirstOrDefault()?.Throughput(seconds) ?? "NA",
    warmups: 3, iterations: 10, parameterWidth: 72);
