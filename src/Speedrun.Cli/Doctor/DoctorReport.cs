using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Speedrun.Benchmark.OpSpecs;

namespace Speedrun.Cli.Doctor;

/// <summary>Everything `speedrun doctor` found, written as report.json and report.md.</summary>
internal sealed class DoctorReport
{
    public Dictionary<string, string> Environment { get; } = new();
    public List<KernelAgreement> Kernels { get; } = new();
    public List<GemmTiming> Gemms { get; } = new();
    public List<string> Notes { get; } = new();
    public List<string> Errors { get; } = new();
    public List<AttentionTimingResult> Attention { get; } = new();
    public List<RecordTiming> Records { get; } = new();
    public List<RecordFailure> RecordFailures { get; } = new();

    [JsonIgnore] public int Failures => Errors.Count + Kernels.Count(k => !k.Pass);

    public void Write(string dir)
    {
        Directory.CreateDirectory(dir);
        var json = JsonSerializer.Serialize(this, new JsonSerializerOptions
        {
            WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
            NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        });
        File.WriteAllText(Path.Combine(dir, "report.json"), json);
        File.WriteAllText(Path.Combine(dir, "report.md"), ToMarkdown());
    }

    public string ToMarkdown()
    {
        var sb = new StringBuilder("# speedrun doctor\n\n## Environment\n\n| item | value |\n|---|---|\n");
        foreach (var (k, v) in Environment) sb.AppendLine($"| {k} | {v.Replace("|", "\\|").Replace("\n", " ")} |");
        if (Kernels.Count > 0)
        {
            sb.AppendLine("\n## Kernels and engine ops: CUDA vs CPU on the same inputs\n\n" +
                          "Tolerances are abs + rel·|cpu|; an engine op compares its outputs and the gradient of every input.\n\n" +
                          "| op | values | max abs diff | max rel diff | tolerance: outputs | tolerance: gradients | pass |\n|---|---|---|---|---|---|---|");
            foreach (var k in Kernels)
                sb.AppendLine($"| {k.Op} | {k.Elements} | {k.MaxAbsDiff:G3} | {k.MaxRelDiff:G3} | {Text(k.Outputs)} | " +
                              $"{(k.Gradients is { } g ? Text(g) : "-")} | {(k.Pass ? "yes" : "**NO**")} |");
        }
        if (Gemms.Count > 0)
        {
            sb.AppendLine("\n## GEMM throughput (ours, device-event timed, median of batches)\n\n| shape (M×K×N) | dtype | ms | TFLOP/s |\n|---|---|---|---|");
            foreach (var g in Gemms) sb.AppendLine($"| {g.Shape} | {g.Dtype} | {g.Milliseconds:F3} | {g.Tflops:F1} |");
        }
        if (Attention.Count > 0)
        {
            sb.AppendLine("\n## Attention forward + backward (ours: flash attention on fp32 tensors, device-timed median)\n\n" +
                          "density: the fraction of (query, key) block pairs of 128 positions computed (element-built mask; " +
                          "per-block build in brackets).\n\n" +
                          "| case | documents | density | mask build ms | fwd+bwd ms |\n|---|---|---|---|---|");
            foreach (var a in Attention)
                sb.AppendLine($"| {a.Name} | {(a.Documents is { } d ? d.ToString() : "-")} | {a.Density:F4}" +
                              $"{(a.BlocksDensity is { } bd ? $" ({bd:F4})" : "")} | " +
                              $"{(a.MaskBuildMs is { } mb ? mb.ToString("F3") : "-")}{(a.BlocksBuildMs is { } bb ? $" ({bb:F3})" : "")} | " +
                              $"{(a.Ms is { } ms ? ms.ToString("F3") : "**failed**")} |");
        }
        if (Records.Count > 0 || RecordFailures.Count > 0)
        {
            sb.AppendLine("\n## Training steps (the records' own sizes, unless --hp changed them)\n\n" +
                          "ms/step: one micro-batch forward + backward + every optimizer (what one of the original's 8 GPUs does a " +
                          "step); full step: the track's micro-batches on this one device + the optimizers. Medians of the timed steps.\n\n" +
                          "| record | micro-batch | T | parameters | ms/step | fwd+bwd ms | optimizers ms | full step ms | tokens/s | MFU | pool GiB | device GiB |\n" +
                          "|---|---|---|---|---|---|---|---|---|---|---|---|");
            foreach (var r in Records)
                sb.AppendLine($"| {r.Record} | {r.MicroBatch} | {r.SequenceLength} | {r.Parameters:N0} | {r.MsPerStep:F1} | " +
                              $"{r.ForwardBackwardMs:F1} | {r.OptimizerMs:F1} | {r.FullStepMs:F0} ({r.Accumulation}x) | {r.TokensPerSecond:N0} | " +
                              $"{(r.Mfu is { } m ? m.ToString("P1") : "-")} | {r.PoolGiB:F1} | {(r.DeviceUsedGiB is { } u ? u.ToString("F1") : "-")} |");
            foreach (var f in RecordFailures)
                sb.AppendLine($"| {f.Record} | **failed**: {f.Error.Replace("|", "\\|").Replace("\n", " ")} | | | | | | | | | | |");
            foreach (var r in Records)
                sb.AppendLine($"\n{r.Record}: {r.Optimizers}; losses {string.Join(", ", r.Losses.Select(l => l.ToString("F3")))}");
        }
        foreach (var r in Records.Where(r => r.Profile.Count > 0))
        {
            sb.AppendLine($"\n### {r.Record}: where one step's device time goes (profiled step; nested spans are counted in their parent too)\n\n| op | calls | ms |\n|---|---|---|");
            foreach (var p in r.Profile) sb.AppendLine($"| {p.Name} | {p.Count} | {p.Milliseconds:F2} |");
        }
        if (Notes.Count > 0) { sb.AppendLine("\n## Notes\n"); foreach (var n in Notes) sb.AppendLine($"- {n}"); }
        if (Errors.Count > 0) { sb.AppendLine("\n## Errors\n"); foreach (var e in Errors) sb.AppendLine($"- {e}"); }
        return sb.ToString();
    }

    static string Text(Tolerance t) => $"{t.Atol:G2} + {t.Rtol:G2}";
}

/// <summary>
/// One check of a device against the reference device (the CPU) on the same inputs: how many values were compared,
/// the largest differences, the tolerance of the outputs (and of the input gradients, for engine ops), and, when it
/// failed, which tensor and element were worst.
/// </summary>
internal sealed record KernelAgreement(string Op, long Elements, double MaxAbsDiff, double MaxRelDiff,
    Tolerance Outputs, Tolerance? Gradients, bool Pass, string? Failure = null)
{
    /// <summary>The log line (and the failure report under it).</summary>
    public string Describe() =>
        $"  {(Pass ? "ok  " : "FAIL")} {Op}: {Elements} values, max abs {MaxAbsDiff:G3}, max rel {MaxRelDiff:G3}" +
        (Failure is null ? "" : "\n" + Failure.TrimEnd());
}

internal sealed record GemmTiming(string Shape, string Dtype, double Milliseconds, double Tflops);
