using System.Reflection;
using System.Text.Json.Serialization;
using Speedrun.Core.Autograd;
using Speedrun.Benchmark.Runs;
using Speedrun.Core.Data;

namespace Speedrun.Cli.Doctor;

/// <summary>
/// Times one training step of a record at full size on this device: the program is compiled from the record's
/// Train.cs (as the runner does), its Hyperparameters taken at their defaults (the record's own sizes: the full track)
/// with the --hp overrides, and its model and optimizers built as its top-level code builds them
/// (<see cref="RecordTrainer"/>). One timed step = one micro-batch forward + backward + every optimizer, which is
/// what one of the original's 8 GPUs does per step (records 12 on: one stream of 64K or 48K tokens, B = 1); the full
/// track's step adds Accumulation − 1 more micro-batches on one GPU. Device-timed (CUDA events) from before ZeroGrad
/// to after the optimizers, with a marker after backward; the medians of the timed steps after the warm-up ones.
/// Micro-batches: the ones given, else the record's own, halved twice while it does not fit (record 1: 32, 16, 8).
/// A record that cannot run here (no Train.cs, a compile error, FP8 below sm_89, out of memory) is reported as a
/// failure with the reason, and the next record is still timed.
/// </summary>
internal static class RecordStepTiming
{
    public static void Run(Device device, string recordDir, DoctorOptions options, DoctorReport report, TextWriter log)
    {
        string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(recordDir)));
        try
        {
            device.Synchronize();
            device.Pool.Trim(); // each record starts from an empty pool, so what it holds after is its own peak
            report.Records.Add(TimeRecord(device, recordDir, name, options, log));
        }
        catch (Exception e)
        {
            var inner = e is TargetInvocationException { InnerException: { } i } ? i : e;
            string reason = IsOutOfMemory(inner)
                ? $"out of device memory ({inner.Message}); a shorter stream would fit, e.g. --hp SequenceLength=32768"
                : $"{inner.GetType().Name}: {inner.Message}";
            report.RecordFailures.Add(new RecordFailure(name, reason));
            report.Errors.Add($"record step timing ({name}): {reason}");
            log.WriteLine($"  {name}: FAILED: {reason}");
        }
        finally
        {
            try
            {
                device.Synchronize();
                device.Pool.Trim();
            }
            catch (Exception e)
            {
                log.WriteLine($"  {name}: freeing the device after it failed too ({e.Message})");
            }
        }
    }

    static RecordTiming TimeRecord(Device device, string recordDir, string name, DoctorOptions options, TextWriter log)
    {
        var source = Path.Combine(recordDir, "Train.cs");
        if (!File.Exists(source))
            throw new FileNotFoundException($"{recordDir} has no Train.cs; pass a record folder such as records/12-flex-attention.");
        if (RecordTrainer.Fp8Problem(File.ReadAllText(source), device.IsCuda, device.Describe().ComputeCapability, device.Name) is { } fp8)
            throw new NotSupportedException($"{name} cannot run on this GPU: {fp8}");
        var program = LoadedProgram.Load(source);
        log.WriteLine($"  compiled and loaded {program.SourcePath}");
        var overrides = options.Overrides ?? [];
        int own = LoadedProgram.Get<int>(program.Hyperparameters(overrides), "MicroBatch");
        var batches = options.Batches is { Length: > 0 } given ? given : new[] { own, own / 2, own / 4 }.Where(b => b >= 1).Distinct().ToArray();
        foreach (int b in batches)
        {
            var hp = program.Hyperparameters(overrides.Append($"MicroBatch={b}"));
            try
            {
                return TimeSteps(device, program, hp, name, b, options, log);
            }
            catch (Exception e) when (IsOutOfMemory(e) && b != batches[^1])
            {
                log.WriteLine($"  B={b} does not fit ({e.GetType().Name}: {e.Message}); trying a smaller micro-batch");
                device.Synchronize();
                device.Pool.Trim();
            }
        }
        throw new InvalidOperationException("no micro-batch given"); // unreachable: the last batch returns or throws
    }

    static RecordTiming TimeSteps(Device device, LoadedProgram program, object hp, string name, int b, DoctorOptions options, TextWriter log)
    {
        int t = LoadedProgram.Get<int>(hp, "SequenceLength");
        int layers = LoadedProgram.Get<int>(hp, "Layers");
        int dim = LoadedProgram.Get<int>(hp, "Dim");
        int accumulation = hp.GetType().GetProperty("Accumulation")?.GetValue(hp) is int a ? a : 1;
        var tokens = Tokens(options.Shard, b * t + 1);
        var inputs = tokens[..^1];
        var targets = tokens[1..];
        var build = System.Diagnostics.Stopwatch.StartNew();
        using var trainer = RecordTrainer.Create(program, device, hp);
        long parameters = trainer.Model.ParameterCount();
        log.WriteLine($"  model: {parameters:N0} parameters, built in {build.Elapsed.TotalSeconds:F1} s; B={b} T={t}, " +
                      $"{accumulation} micro-batch(es) a full step; {trainer.Optimizers}");

        (float Loss, double Total, double ForwardBackward) Step()
        {
            using var scope = new TensorScope();
            if (!device.IsCuda) device.Synchronize(); // host markers: start from an idle device
            using var start = device.Mark();
            trainer.ZeroGrad();
            var x = Tensor.FromArray(device, inputs, b, t);
            var y = Tensor.FromArray(device, targets, b, t);
            var loss = trainer.Loss(x, y);
            loss.Backward();
            if (!device.IsCuda) device.Synchronize();
            using var mid = device.Mark();
            trainer.OptimizerStep();
            if (!device.IsCuda) device.Synchronize();
            using var end = device.Mark();
            double total = start.MillisecondsTo(end), forwardBackward = start.MillisecondsTo(mid);
            return (loss.Item(), total, forwardBackward);
        }

        var totals = new List<double>();
        var forwardBackwards = new List<double>();
        var optimizers = new List<double>();
        var losses = new List<float>();
        int warmup = Math.Max(0, options.WarmupSteps);
        for (int step = 0; step < warmup + options.TimedSteps; step++)
        {
            var wall = System.Diagnostics.Stopwatch.StartNew();
            var (loss, total, fb) = Step();
            losses.Add(loss);
            if (step >= warmup)
            {
                totals.Add(total);
                forwardBackwards.Add(fb);
                optimizers.Add(total - fb);
            }
            log.WriteLine($"    step {step}{(step < warmup ? " (warm-up)" : "")}: {total:F1} ms device (forward+backward {fb:F1}, " +
                          $"optimizers {total - fb:F1}), {wall.Elapsed.TotalMilliseconds:F1} ms wall, loss {loss:F4}");
        }
        if (totals.Count == 0) throw new ArgumentException("--steps must be at least 1");
        double poolGiB = device.Pool.BytesHeld / (1024.0 * 1024 * 1024);
        var info = device.Describe();
        double? usedGiB = device.IsCuda ? (info.MemoryBytes - info.FreeMemoryBytes) / (1024.0 * 1024 * 1024) : null;

        var profile = new List<ProfileEntry>();
        if (options.Profile)
        {
            // One more step with every op bracketed by device markers (slightly slower than the timed ones).
            using var profiler = Profiler.Start(device);
            Step();
            foreach (var (op, count, ms) in profiler.Summary()) profile.Add(new ProfileEntry(op, count, ms));
            foreach (var e in profile.Take(25)) log.WriteLine($"    {e.Milliseconds,9:F2} ms  {e.Count,4}x  {e.Name}");
        }

        double median = Median(totals), fbMedian = Median(forwardBackwards), optMedian = Median(optimizers);
        double tokPerS = (double)b * t / (median / 1000);
        // llm.c's count (6N + 6LCT a token) holds for dense causal attention only; under a window and documents the
        // attention does a fraction of that, and value embeddings are parameters without FLOPs, so no MFU there.
        bool dense = hp.GetType().GetProperty("AttentionWindow") is null;
        double? peak = PeakBf16(device.Name);
        double? mfu = dense && peak is { } p ? (6.0 * parameters + 6.0 * layers * dim * t) * tokPerS / p : null;
        var result = new RecordTiming(name, b, t, accumulation, parameters, median, fbMedian, optMedian,
            accumulation * fbMedian + optMedian, tokPerS, mfu, losses, poolGiB, usedGiB, trainer.Optimizers, profile);
        log.WriteLine($"  record step ({name}): B={b} T={t}: {median:F1} ms/step (forward+backward {fbMedian:F1}, optimizers " +
                      $"{optMedian:F1}), {tokPerS:N0} tokens/s" + (mfu is { } m ? $", MFU {m:P1}" : "") +
                      $"; full step ({accumulation} micro-batches) ≈ {result.FullStepMs:F0} ms; pool {poolGiB:F1} GiB" +
                      (usedGiB is { } u ? $", device {u:F1} GiB in use" : ""));
        return result;
    }

    static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }

    static int[] Tokens(string? shardPath, int count)
    {
        var result = new int[count];
        if (shardPath is not null && File.Exists(shardPath))
        {
            using var shard = ShardFile.Open(shardPath);
            var src = shard.Tokens;
            for (int i = 0; i < count; i++) result[i] = src[i % src.Length];
            return result;
        }
        var rng = new Random(1);
        for (int i = 0; i < count; i++) result[i] = rng.Next(50257);
        return result;
    }

    /// <summary>Dense bf16 tensor-core peak of known cards (vendor datasheets, SXM parts).</summary>
    static double? PeakBf16(string name) =>
        name.Contains("H100", StringComparison.OrdinalIgnoreCase) || name.Contains("H200", StringComparison.OrdinalIgnoreCase)
            ? 989e12
            : name.Contains("A100", StringComparison.OrdinalIgnoreCase) ? 312e12 : null;

    static bool IsOutOfMemory(Exception e) =>
        e is OutOfMemoryException || e.Message.Contains("out of memory", StringComparison.OrdinalIgnoreCase) ||
        e.Message.Contains("OUT_OF_MEMORY", StringComparison.OrdinalIgnoreCase) ||
        (e.InnerException is { } inner && IsOutOfMemory(inner));
}

/// <summary>Device time of one op name over one profiled step (nested spans count in both).</summary>
internal sealed record ProfileEntry(string Name, int Count, double Milliseconds);

/// <summary>One record's training step as the doctor timed it: medians of the timed steps (ms/step = one micro-batch
/// forward + backward + the optimizers; FullStepMs = Accumulation micro-batches + the optimizers, the full track's step
/// on one GPU), the pool's size after the steps (its high-water mark: it never frees while training) and, on CUDA, the
/// device memory in use then (the pool, cuBLAS workspaces, modules).</summary>
internal sealed record RecordTiming(string Record, int MicroBatch, int SequenceLength, int Accumulation, long Parameters,
    double MsPerStep, double ForwardBackwardMs, double OptimizerMs, double FullStepMs, double TokensPerSecond, double? Mfu,
    IReadOnlyList<float> Losses, [property: JsonPropertyName("pool_gib")] double PoolGiB,
    [property: JsonPropertyName("device_used_gib")] double? DeviceUsedGiB, string Optimizers, IReadOnlyList<ProfileEntry> Profile);

/// <summary>A record the doctor could not time, and why.</summary>
internal sealed record RecordFailure(string Record, string Error);
