using System.Diagnostics;
using Speedrun.Core.Autograd;
using Speedrun.Benchmark.Runs;
using Speedrun.Core.Data;
using Speedrun.Core.Training.Modules;
using Speedrun.Core.Training.Optimizers;

namespace Speedrun.Cli.Doctor;

/// <summary>
/// Times record 1's training step at full size (GPT-2 124M, T = 1024) on this device: the program is compiled
/// from the record's Train.cs (as the runner does) and its Gpt and Hyperparameters are used directly. One
/// timed step = one micro-batch forward + backward (bf16 matmuls on CUDA) + clip + AdamW, CUDA-event timed,
/// median of the timed steps; the largest micro-batch of {32, 16, 8} that fits is used.
/// </summary>
internal static class RecordStepTiming
{
    public static void Run(Device device, string recordDir, string? shardPath, int[] batches, int steps, bool profile,
        IReadOnlyList<string> overrides, DoctorReport report, TextWriter log)
    {
        var program = LoadedProgram.Load(Path.Combine(recordDir, "Train.cs"));
        var gptType = program.Type("Gpt");
        log.WriteLine($"  compiled and loaded {program.SourcePath}");
        foreach (int b in batches)
        {
            var hp = program.Hyperparameters(overrides.Append($"MicroBatch={b}"));
            int t = LoadedProgram.Get<int>(hp, "SequenceLength");
            int layers = LoadedProgram.Get<int>(hp, "Layers");
            int dim = LoadedProgram.Get<int>(hp, "Dim");
            try
            {
                var profileEntries = new List<ProfileEntry>();
                var timing = TimeSteps(device, gptType, hp, b, t, shardPath, steps, log, profile, profileEntries);
                report.Profile.AddRange(profileEntries);
                foreach (var e in profileEntries.Take(25)) log.WriteLine($"    {e.Milliseconds,9:F2} ms  {e.Count,4}x  {e.Name}");
                double tokens = (double)b * t;
                double tokPerS = tokens / (timing.MedianMs / 1000);
                double flopsPerToken = 6.0 * timing.Parameters + 6.0 * layers * dim * t; // llm.c's count
                double? peak = PeakBf16(device.Name);
                var result = new RecordTiming(Path.GetFileName(Path.GetFullPath(recordDir)), b, t, timing.Parameters,
                    timing.MedianMs, tokPerS, peak is { } p ? flopsPerToken * tokPerS / p : null, timing.Losses,
                    device.Pool.BytesHeld / (1024.0 * 1024 * 1024));
                report.Record = result;
                log.WriteLine($"  record step: B={b} T={t}: {timing.MedianMs:F1} ms/step, {tokPerS:N0} tokens/s" +
                              (result.Mfu is { } mfu ? $", MFU {mfu:P1}" : "") + $", pool {result.PoolGiB:F1} GiB");
                return;
            }
            catch (Exception e) when (IsOutOfMemory(e))
            {
                log.WriteLine($"  B={b} does not fit ({e.GetType().Name}: {e.Message}); trying a smaller micro-batch");
                device.Synchronize();
                device.Pool.Trim();
            }
        }
        throw new InvalidOperationException("no micro-batch fits");
    }

    sealed record Timing(double MedianMs, long Parameters, IReadOnlyList<float> Losses);

    static Timing TimeSteps(Device device, Type gptType, object hp, int b, int t, string? shardPath, int steps, TextWriter log,
        bool profile, List<ProfileEntry> profileOut)
    {
        var tokens = Tokens(shardPath, b * t + 1);
        var inputs = tokens[..^1];
        var targets = tokens[1..];
        var build = Stopwatch.StartNew();
        using var model = (Module)Activator.CreateInstance(gptType, device, hp, new Random(0))!;
        var loss = gptType.GetMethod("Loss")!;
        using var optimizer = new AdamW(new AdamW.Group(model.Parameters(), 1.5e-3f, 0.9f, 0.95f, 1e-8f, 0.1f));
        using var clip = new GradClip(device);
        log.WriteLine($"  model: {model.ParameterCount():N0} parameters, built in {build.Elapsed.TotalSeconds:F1} s");
        var precision = device.IsCuda ? MatmulPrecision.BF16 : MatmulPrecision.F32;
        using var timer = device.CreateTimer();
        var times = new List<double>();
        var losses = new List<float>();
        float Step()
        {
            model.ZeroGrad();
            using var scope = new TensorScope();
            var x = Tensor.FromArray(device, inputs, b, t);
            var y = Tensor.FromArray(device, targets, b, t);
            Tensor l;
            using (Autocast.Use(precision)) l = (Tensor)loss.Invoke(model, [x, y])!;
            l.Backward();
            clip.ClipGradNorm(model.Parameters(), 1f);
            optimizer.Step();
            return l.Item();
        }

        const int warmup = 3;
        for (int step = 0; step < warmup + steps; step++)
        {
            var wall = Stopwatch.StartNew();
            timer.Start();
            losses.Add(Step());
            double ms = timer.StopMilliseconds();
            if (step >= warmup) times.Add(ms);
            log.WriteLine($"    step {step}{(step < warmup ? " (warm-up)" : "")}: {ms:F1} ms device, {wall.Elapsed.TotalMilliseconds:F1} ms wall, loss {losses[^1]:F4}");
        }
        times.Sort();
        if (profile)
        {
            // One more step with every op bracketed by device markers (slightly slower than the timed ones).
            using var profiler = Profiler.Start(device);
            Step();
            foreach (var (name, count, ms) in profiler.Summary())
                profileOut.Add(new ProfileEntry(name, count, ms));
        }
        return new Timing(times[times.Count / 2], model.ParameterCount(), losses);
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

/// <summary>Record step timing as reported by the doctor.</summary>
internal sealed record RecordTiming(string Record, int MicroBatch, int SequenceLength, long Parameters, double MsPerStep,
    double TokensPerSecond, double? Mfu, IReadOnlyList<float> Losses, double PoolGiB);
