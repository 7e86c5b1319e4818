using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Speedrun.Benchmarks.Training;
using TorchSharp;

namespace Speedrun.Benchmarks;

/// <summary>
/// Tiny-track training throughput, ours against TorchSharp: one training step of record 1's model
/// (records/01-llmc-baseline/Train.cs compiled as the runner compiles it, at tracks/tiny.json's size:
/// 12 layers, d 128, head_dim 64, vocab 50257, T 1024, 1 sequence a step) against the same model in
/// TorchSharp float32 with torch.optim.AdamW and clip_grad_norm_, from the same weights, on the same batch
/// (the default corpus's first 1024 training tokens). Both use every core: torch.set_num_threads
/// (Environment.ProcessorCount), the thread count of our CPU GEMM. The first two steps of both are
/// compared in [GlobalSetup] before anything is timed.
/// Categories: Step (forward, backward, clip, AdamW: the number that matters), ForwardBackward and
/// Forward (a graph-recording forward only), so the phases can be told apart. Each call ends by reading
/// the loss on the host, as the records' per-step log line does.
/// Run: dotnet run -c Release --project bench/Speedrun.Benchmarks -- --filter '*Training*'
/// </summary>
[Config(typeof(TrainingConfig))]
public class TrainingBenchmarks
{
    /// <summary>Tokens one step trains on (1 sequence × 1024 tokens); Setup checks it against the record.</summary>
    internal const int TokensPerStep = 1 * 1024;

    SpeedrunTrainer? _ours;
    TorchSharpTrainer? _torch;

    [GlobalSetup]
    public void Setup()
    {
        torch.set_num_threads(Environment.ProcessorCount);
        var run = TinyRecordOne.Load();
        if (run.TokensPerStep != TokensPerStep || run.Layers != 12 || run.Dim != 128 || run.HeadDim != 64 ||
            run.Vocab != 50257 || run.SequenceLength != 1024)
            throw new InvalidOperationException(
                $"The tiny track no longer gives record 1 the size this benchmark reports: {run.Layers} layers, " +
                $"d {run.Dim}, head_dim {run.HeadDim}, vocab {run.Vocab}, T {run.SequenceLength}, " +
                $"{run.TokensPerStep} tokens a step. Update TokensPerStep and the doc comment.");
        _ours = new SpeedrunTrainer(run, seed: 0);
        _torch = new TorchSharpTrainer(run, _ours.Weights());

        // Same weights, same batch: the first loss agrees to fp32 reassociation; the second only if
        // backward, clipping and AdamW agree too.
        for (int step = 0; step < 2; step++)
        {
            float ours = _ours.Step(backward: true, update: true);
            float reference = _torch.Step(backward: true, update: true);
            double tolerance = (step == 0 ? 1e-4 : 1e-3) * Math.Abs(reference);
            if (!(Math.Abs(ours - reference) <= tolerance))
                throw new InvalidOperationException(
                    $"Training step {step}: our loss {ours} disagrees with TorchSharp's {reference} (tolerance {tolerance:G3}).");
            Console.WriteLine($"// validation step {step}: loss ours {ours:F6}, TorchSharp {reference:F6}");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _ours?.Dispose();
        _torch?.Dispose();
        (_ours, _torch) = (null, null);
    }

    [Benchmark(Baseline = true, Description = "TorchSharp step"), BenchmarkCategory("Step")]
    public float TorchStep() => _torch!.Step(backward: true, update: true);

    [Benchmark(Description = "Speedrun step"), BenchmarkCategory("Step")]
    public float SpeedrunStep() => _ours!.Step(backward: true, update: true);

    [Benchmark(Baseline = true, Description = "TorchSharp forward+backward"), BenchmarkCategory("ForwardBackward")]
    public float TorchForwardBackward() => _torch!.Step(backward: true, update: false);

    [Benchmark(Description = "Speedrun forward+backward"), BenchmarkCategory("ForwardBackward")]
    public float SpeedrunForwardBackward() => _ours!.Step(backward: true, update: false);

    [Benchmark(Baseline = true, Description = "TorchSharp forward"), BenchmarkCategory("Forward")]
    public float TorchForward() => _torch!.Step(backward: false, update: false);

    [Benchmark(Description = "Speedrun forward"), BenchmarkCategory("Forward")]
    public float SpeedrunForward() => _ours!.Step(backward: false, update: false);
}

/// <summary>Baselines per category, and a tokens/s column.</summary>
sealed class TrainingConfig : InProcessConfig
{
    public TrainingConfig() : base(
        "Tokens/s",
        $"Tokens trained per second: {TrainingBenchmarks.TokensPerStep} tokens a step / mean time",
        static (_, seconds) => $"{TrainingBenchmarks.TokensPerStep / seconds:N0}",
        warmups: 3, iterations: 10)
    {
        AddLogicalGroupRules(BenchmarkLogicalGroupRule.ByCategory);
        AddColumn(BenchmarkDotNet.Columns.CategoriesColumn.Default);
    }
}
