using Speedrun.Benchmark.Runs;
using Speedrun.Benchmark.Store;
using Speedrun.Core.Training;
using Speedrun.Tests.Shared;

namespace Speedrun.Benchmark.Tests.Store;

/// <summary>A finished run's folder becomes a store row with its source, log, results and fingerprint.</summary>
public sealed class RunRecordsTests : IDisposable
{
    readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    static readonly ProgramCompiler.Result Compiled = new(true, "program.dll", [], TimeSpan.FromSeconds(1));

    /// <summary>A run whose training process took 3 s by the harness's clock and, when <paramref name="harnessLoss"/>
    /// is given, whose saved model the harness scored at it.</summary>
    ProgramRunOutcome Outcome(string verdict, RunResult? result, double? harnessLoss, params string[] problems) =>
        new(verdict, result, Compiled, new ChildOutcome(0, false, TimeSpan.FromSeconds(3)), _dir.Path, problems,
            harnessLoss is { } loss ? new EvaluationOutcome(null, loss, 1024, 64, 0, 8, TimeSpan.FromSeconds(1), []) : null);

    [Fact]
    public void A_run_with_results_takes_its_numbers_and_fingerprint_from_them()
    {
        File.WriteAllText(_dir.File("program.cs"), "// p\n");
        File.WriteAllText(_dir.File("stdout.txt"), "step:0/2 val_loss:9.0000 train_time:0ms step_avg:0.00ms\n");
        File.WriteAllText(_dir.File("stderr.txt"), "@progress step=1 total=2 tokens=64 train_ms=1.0\nwarning: something\n");
        var result = new RunResult
        {
            Status = "ok", NSteps = 2, ValLoss = 4.5, TrainTimeMs = 321, StepAvgMs = 160.5, Device = "cpu-device",
            Fingerprint = "from-results", Seed = 7, Track = "tiny", TargetValLoss = 5, ValTokens = 1024, Program = "p",
            TrainFiles = "t", ValFiles = "v", Validations = [new ValPoint(0, 9, 0), new ValPoint(2, 4.5, 321)],
        };
        result.Write(_dir.File("results.json"));
        var row = RunRecords.FromOutcome("uid-1", RunLabel.AgentRun(3, "1,2", "bot"), "tiny", 7, "cpu",
            Outcome("ok", result, harnessLoss: 4.25), () => "machine", DateTimeOffset.UnixEpoch, TimeSpan.FromSeconds(4));

        // The store keeps the runner's own fingerprint, never the program's claim; the scored loss and time are the
        // harness's, with the program's own beside them.
        Assert.Equal("machine", row.Fingerprint);
        Assert.Equal(("agent", 3, "1,2", "bot"), (row.Kind, row.Record, row.Hints, row.Agent));
        Assert.Equal((4.25, 3000.0), (row.ValLoss!.Value, row.TrainTimeMs!.Value));
        Assert.Equal((4.5, 321.0, 2, 160.5), (row.ProgramValLoss!.Value, row.ProgramTrainTimeMs!.Value, row.NSteps!.Value, row.StepAvgMs!.Value));
        Assert.Equal("cpu-device", row.Device);
        Assert.Equal("// p\n", row.Source);
        // sha256sum of the four bytes "// p\n"
        Assert.Equal("b257401876892d23c4621bca4de2f1def29bccc90ef8a761afa3929ca4e24689", row.SourceSha256);
        Assert.Equal("step:0/2 val_loss:9.0000 train_time:0ms step_avg:0.00ms\n--- stderr ---\nwarning: something\n", row.Log);
        Assert.Equal(File.ReadAllText(_dir.File("results.json")), row.ResultsJson);
        Assert.Null(row.Problems);
        Assert.Equal([0, 2], row.Validations.Select(v => v.Step));
        Assert.Equal(4, row.DurationSeconds);
        Assert.Equal(Path.GetFullPath(_dir.Path), row.OutDir);
    }

    [Fact]
    public void A_run_without_results_gets_the_machine_fingerprint_and_its_log_lines()
    {
        File.WriteAllText(_dir.File("program.cs"), "// q\n");
        File.WriteAllText(_dir.File("stdout.txt"), "hello\nstep:5/9 val_loss:7.2500 train_time:40ms step_avg:8.00ms\n");
        File.WriteAllText(_dir.File("stderr.txt"), "");
        var row = RunRecords.FromOutcome("uid-2", RunLabel.CalibrationOf(2), "tiny", 0, null,
            Outcome("crashed", null, null, "exited with code 1", "second problem"), () => "machine", DateTimeOffset.UnixEpoch, TimeSpan.Zero);
        Assert.Equal("machine", row.Fingerprint);
        Assert.Equal(("calibration", 2, null, null), (row.Kind, row.Record, row.Hints, row.Agent));
        Assert.Equal("auto", row.Device);
        Assert.Null(row.ValLoss);
        Assert.Null(row.ResultsJson);
        Assert.Equal("exited with code 1\nsecond problem", row.Problems);
        Assert.Equal("hello\nstep:5/9 val_loss:7.2500 train_time:40ms step_avg:8.00ms\n", row.Log);
        Assert.Equal([new ValPoint(5, 7.25, 40)], row.Validations);
    }

    [Fact]
    public void A_program_that_did_not_compile_keeps_the_compiler_messages_as_its_log()
    {
        File.WriteAllText(_dir.File("program.cs"), "int x = \"a\";\n");
        File.WriteAllText(_dir.File("compile-errors.txt"), "program.cs(1,9): error CS0029: Cannot convert\n");
        var row = RunRecords.FromOutcome("uid-3", RunLabel.AgentRun(1, "none", null), "tiny", 0, "cpu",
            new ProgramRunOutcome("compile_error", null, Compiled with { Success = false }, null, _dir.Path, ["program.cs(1,9): error CS0029: Cannot convert"]),
            () => "machine", DateTimeOffset.UnixEpoch, TimeSpan.Zero);
        Assert.Equal("program.cs(1,9): error CS0029: Cannot convert\n", row.Log);
        Assert.Equal("machine", row.Fingerprint);
        Assert.Empty(row.Validations);
    }
}
