using System.Text.Json;
using Speedrun.Cli.Doctor;
using Speedrun.Kernels.Runtime;

namespace Speedrun.Cli.Tests.Doctor;

/// <summary>
/// The doctor's record step timing on the CPU device at a small size (width 128, a 256-token stream, one step): the
/// same code the GPU kit runs at full size (`check.sh OUT records`: records 12, 19 and 21, 64K/64K/48K-token streams),
/// so that the GPU machine never meets a broken path. Records 12 on build Muon + AdamW as their programs do; record 1
/// takes the AdamW recipe. A record that cannot run is a failure with its reason, never a crash, and the others are
/// still timed. The JSON keys are the ones scripts/device/summarize.py reads.
/// </summary>
public class RecordStepTimingTests
{
    static readonly string[] StreamRecords = ["12-flex-attention", "19-fp8-lm-head", "21-batch-size"];
    static readonly string[] Small = ["Dim=128", "SequenceLength=256"];

    [Fact]
    public void EveryKitRecordTimesOneStepOnTheCpuAtASmallSize()
    {
        using var cpu = Device.Create(DeviceKind.Cpu);
        var log = new StringWriter();
        var records = StreamRecords.Prepend("01-llmc-baseline").Select(r => Path.Combine(RepoRoot(), "records", r)).ToList();
        var report = DoctorRun.Run(DeviceKind.Cpu, gemmSweep: false, log,
            new DoctorOptions(records, Batches: [1], TimedSteps: 1, WarmupSteps: 0, Overrides: Small, RecordsOnly: true));

        Assert.True(report.Failures == 0, string.Join("\n", report.Errors) + "\n" + log);
        Assert.Empty(report.RecordFailures);
        Assert.Empty(report.Attention); // --records-only
        Assert.Equal(StreamRecords.Prepend("01-llmc-baseline"), report.Records.Select(r => r.Record));
        Assert.All(report.Records, r =>
        {
            Assert.Equal(1, r.MicroBatch);
            Assert.Equal(256, r.SequenceLength);
            Assert.True(r.MsPerStep > 0 && r.ForwardBackwardMs > 0 && r.OptimizerMs >= 0, $"{r.Record}: {r}");
            Assert.True(r.ForwardBackwardMs <= r.MsPerStep, $"{r.Record}: {r.ForwardBackwardMs} > {r.MsPerStep}");
            Assert.Equal(r.Accumulation * r.ForwardBackwardMs + r.OptimizerMs, r.FullStepMs, 6);
            Assert.True(r.PoolGiB > 0);
            Assert.Null(r.DeviceUsedGiB); // CUDA only
            Assert.Single(r.Losses);
            Assert.InRange(r.Losses[0], 9.5f, 11.5f); // ln(50,257) = 10.8 at the start, whatever the head
        });
        var streams = report.Records.Skip(1).ToList();
        Assert.All(streams, r =>
        {
            Assert.Equal(8, r.Accumulation); // 8 streams a step, one a micro-batch
            Assert.StartsWith("distributed Muon over ", r.Optimizers);
            Assert.Null(r.Mfu); // windowed, document-masked attention: no llm.c MFU
        });
        Assert.Contains("β1 0.8", streams[1].Optimizers); // record 19's Adam betas
        Assert.Contains("ε 1E-10", streams[2].Optimizers); // record 21's Adam eps
        Assert.StartsWith("AdamW over every parameter", report.Records[0].Optimizers);

        var md = report.ToMarkdown();
        Assert.Contains("## Training steps (the records' own sizes", md);
        Assert.Contains("| 19-fp8-lm-head | 1 | 256 |", md);

        // The keys summarize.py reads.
        var dir = Directory.CreateTempSubdirectory("doctor-records-").FullName;
        report.Write(dir);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "report.json")));
        var first = json.RootElement.GetProperty("records")[1];
        foreach (var key in new[] { "record", "micro_batch", "sequence_length", "accumulation", "parameters", "ms_per_step",
                     "forward_backward_ms", "optimizer_ms", "full_step_ms", "tokens_per_second", "pool_gib", "device_used_gib", "losses" })
            Assert.True(first.TryGetProperty(key, out _), $"report.json records[] lacks {key}");
        Assert.Equal(JsonValueKind.Array, json.RootElement.GetProperty("record_failures").ValueKind);
    }

    [Fact]
    public void ARecordThatCannotRunIsAFailureWithItsReasonAndTheOthersStillRun()
    {
        using var cpu = Device.Create(DeviceKind.Cpu);
        var log = new StringWriter();
        var missing = Path.Combine(Path.GetTempPath(), "no-such-record-" + Guid.NewGuid().ToString("N"));
        var record12 = Path.Combine(RepoRoot(), "records", "12-flex-attention");
        var report = DoctorRun.Run(DeviceKind.Cpu, gemmSweep: false, log,
            new DoctorOptions([missing, record12], Batches: [1], TimedSteps: 1, WarmupSteps: 0, Overrides: Small, RecordsOnly: true));
        var failure = Assert.Single(report.RecordFailures);
        Assert.Contains("has no Train.cs", failure.Error);
        Assert.Single(report.Records, r => r.Record == "12-flex-attention");
        Assert.Contains(report.Errors, e => e.Contains("no-such-record"));
        Assert.Contains("**failed**: FileNotFoundException", report.ToMarkdown());

        var bad = DoctorRun.Run(DeviceKind.Cpu, gemmSweep: false, TextWriter.Null,
            new DoctorOptions([record12], Batches: [1], TimedSteps: 1, WarmupSteps: 0, Overrides: ["NoSuchSize=3"], RecordsOnly: true));
        Assert.Contains("NoSuchSize", Assert.Single(bad.RecordFailures).Error);
        Assert.Empty(bad.Records);
    }

    [Theory]
    [InlineData(true, "9.0", true)]
    [InlineData(true, "8.9", true)]
    [InlineData(true, "8.0", false)]
    [InlineData(true, "7.5", false)]
    [InlineData(true, "10.0", true)]
    [InlineData(false, "cpu", true)]
    public void Fp8RecordsNeedComputeCapability89OnCuda(bool cuda, string capability, bool runs)
    {
        var fp8Source = File.ReadAllText(Path.Combine(RepoRoot(), "records", "19-fp8-lm-head", "Train.cs"));
        var problem = RecordTrainer.Fp8Problem(fp8Source, cuda, capability, "Some GPU");
        Assert.Equal(runs, problem is null);
        if (problem is not null) Assert.Contains("8.9", problem);
        var bf16Source = File.ReadAllText(Path.Combine(RepoRoot(), "records", "12-flex-attention", "Train.cs"));
        Assert.Null(RecordTrainer.Fp8Problem(bf16Source, cuda, capability, "Some GPU"));
    }

    [Fact]
    public void TheKitsScriptTimesTheSameRecordsAtTheirOwnSizes()
    {
        var root = RepoRoot();
        var check = File.ReadAllText(Path.Combine(root, "scripts", "device", "check.sh"));
        foreach (var r in StreamRecords) Assert.Contains($"records/{r}", check);
        var torch = File.ReadAllText(Path.Combine(root, "bench", "pytorch", "record_steps.py"));
        // The PyTorch references name the records as the doctor does, so summarize.py can pair them.
        foreach (var r in StreamRecords) Assert.Contains($"\"{r}\"", torch);
    }

    static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "records", "12-flex-attention", "Train.cs")))
            dir = dir.Parent;
        return dir?.FullName ?? throw new DirectoryNotFoundException("the repository root (records/) above " + AppContext.BaseDirectory);
    }
}
