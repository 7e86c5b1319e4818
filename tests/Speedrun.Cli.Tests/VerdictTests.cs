using Speedrun.Benchmark.Store;

namespace Speedrun.Cli.Tests;

/// <summary>
/// Every verdict, each caused by a fixture program built to cause it (Fixtures/programs/, and the ladder's
/// record 2 for `ok`), run by `speedrun run` from an agent workspace of task 1 on the ladder track; after each,
/// the run's source, log and result are in the store.
/// </summary>
public sealed class VerdictTests : IDisposable
{
    readonly LadderRepo _repo = new();

    public void Dispose() => _repo.Dispose();

    /// <summary>Runs one program as an agent's attempt at task 1 and returns the CLI output and the stored row.</summary>
    (CliResult Cli, RunRecord Row) RunProgram(string program, params string[] extra)
    {
        var workspace = _repo.Workspace(program: program);
        var cli = _repo.Cli(["run", workspace, "--track", LadderRepo.Track, "--agent", "fixture", .. extra]);
        var rows = _repo.StoredRuns();
        Assert.True(rows.Count == 1, $"expected one stored run, found {rows.Count}\n{cli}");
        var row = rows[0];
        Assert.Equal("agent", row.Kind);
        Assert.Equal(1, row.Record);
        Assert.Equal("none", row.Hints);
        Assert.Equal("fixture", row.Agent);
        Assert.Equal(LadderRepo.Track, row.Track);
        Assert.Equal(File.ReadAllText(program), row.Source);
        Assert.False(string.IsNullOrWhiteSpace(row.Fingerprint));
        // What the time may be compared with: the track file, and the programs of task 1's two records.
        static string Sha(string path) => Speedrun.Benchmark.Tasks.TaskManifest.Sha256Hex(File.ReadAllBytes(path));
        Assert.Equal(Sha(Path.Combine(_repo.Root, "tracks", "ladder.json")), row.TrackSha256);
        Assert.Equal($"{Sha(Path.Combine(_repo.RecordDir(1), "Train.cs"))},{Sha(Path.Combine(_repo.RecordDir(2), "Train.cs"))}",
            row.ReferenceSha256);
        Assert.True(Directory.Exists(row.OutDir), $"run folder {row.OutDir} is missing");
        Assert.StartsWith(_repo.RunsDir, row.OutDir);
        // One line per run on stdout: verdict, val_loss, train_time, seed, the run folder.
        var line = Assert.Single(cli.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith(row.Verdict + " ", line);
        Assert.EndsWith(row.OutDir!, line.TrimEnd());
        return (cli, row);
    }

    [Fact]
    public void CompileErrorIsStoredWithTheCompilerMessages()
    {
        var (cli, row) = RunProgram(LadderRepo.FixtureProgram("CompileError.cs"));
        Assert.Equal("compile_error", row.Verdict);
        Assert.Equal(1, cli.ExitCode);
        Assert.Contains("CS0029", row.Problems);
        Assert.Contains("CS0029", row.Log); // the compiler's messages stand in for the log
        Assert.Null(row.ResultsJson);
        Assert.Null(row.TrainTimeMs);
        Assert.Contains("CS0029", cli.Stderr);
    }

    [Fact]
    public void ProgramNamingTheHarnessIsACompileErrorThatSaysWhy()
    {
        const string why = "Training programs compile against Speedrun.Core, Speedrun.Kernels and ILGPU only; the harness " +
                           "(results store, catalog, runner, scoring, reports, data building) is not available to a program, by design";
        var (cli, row) = RunProgram(LadderRepo.FixtureProgram("NamesTheHarness.cs"));
        Assert.Equal("compile_error", row.Verdict);
        Assert.Equal(1, cli.ExitCode);
        Assert.Contains("CS0234", row.Log);                    // Speedrun.Benchmark does not exist for the program
        Assert.Contains("SR0001: 'Speedrun.Benchmark.Store'", row.Log);
        Assert.Contains(why, row.Log);
        Assert.Contains(why, row.Problems);
        Assert.Contains(why, cli.Stderr);
        Assert.Null(row.ResultsJson);
    }

    [Fact]
    public void ThrowingProgramCrashes()
    {
        var (cli, row) = RunProgram(LadderRepo.FixtureProgram("Crash.cs"));
        Assert.Equal("crashed", row.Verdict);
        Assert.Equal(1, cli.ExitCode);
        Assert.Contains("exited with code", row.Problems);
        Assert.Contains("a deliberate crash", row.Log); // the exception, from stderr
        Assert.Contains("val_loss:", row.Log);          // and the validation line before it
        Assert.NotNull(row.ResultsJson);
        Assert.Single(row.Validations);
    }

    [Fact]
    public void SleepingPastTheLimitTimesOut()
    {
        var (cli, row) = RunProgram(LadderRepo.FixtureProgram("Timeout.cs"), "--timeout", "0.2");
        Assert.Equal("timeout", row.Verdict);
        Assert.Equal(1, cli.ExitCode);
        Assert.Contains("0.2 minute limit", row.Problems);
        Assert.Contains("sleeping", row.Log);
        Assert.Null(row.ResultsJson);
        // Killed at 12 s: the whole run (compile, start, sleep) stays well under a minute.
        Assert.InRange(row.DurationSeconds, 11.5, 60);
    }

    [Fact]
    public void NanLossDiverges()
    {
        var (cli, row) = RunProgram(LadderRepo.FixtureProgram("Diverged.cs"));
        Assert.Equal("diverged", row.Verdict);
        Assert.Equal(1, cli.ExitCode);
        Assert.Contains("\"status\": \"diverged\"", row.ResultsJson);
        Assert.Contains("val_loss:NaN", row.Log);
        Assert.Null(row.ValLoss); // NaN is stored as NULL
    }

    [Fact]
    public void SilentProgramHasNoMetrics()
    {
        var (cli, row) = RunProgram(LadderRepo.FixtureProgram("NoMetrics.cs"));
        Assert.Equal("no_metrics", row.Verdict);
        Assert.Equal(1, cli.ExitCode);
        Assert.Contains("no model.safetensors: a training program ends with ctx.SaveModel(model)", row.Problems);
        Assert.Equal("", row.Log);
        Assert.Null(row.ResultsJson);
    }

    [Fact]
    public void ModelThatLooksAheadIsInvalid()
    {
        var (cli, row) = RunProgram(LadderRepo.FixtureProgram("LooksAhead.cs"));
        Assert.Equal("invalid", row.Verdict);
        Assert.Equal(1, cli.ExitCode);
        Assert.Contains("the model looks ahead", row.Problems);
        Assert.Null(row.ValLoss);
        // Its own validation, through the same logits, claimed a loss far below the target 8.1.
        Assert.InRange(row.ProgramValLoss!.Value, 0, 1);
        // The verdict came in the batch's first rows; both evaluation processes, blocked sending the rest, were
        // stopped by the harness shutting the channel, not left to sit out the 30 s grace and be killed (which cost
        // this test a minute).
        foreach (var name in new[] { "eval", "probe" })
            Assert.Contains(Speedrun.Benchmark.Runs.EvaluationEntry.HarnessClosedTheChannel, File.ReadAllText(Path.Combine(row.OutDir!, $"{name}-stderr.txt")));
    }

    [Fact]
    public void ForgedResultsAreNotScored()
    {
        var (cli, row) = RunProgram(LadderRepo.FixtureProgram("ForgedResults.cs"));
        Assert.Equal("missed_target", row.Verdict);
        Assert.Equal(1, cli.ExitCode);
        Assert.Equal(1.0, row.ProgramValLoss);               // what the forged results.json says
        Assert.Contains("step:30/30 val_loss:1.0000", row.Log); // and the forged log line
        Assert.InRange(row.ValLoss!.Value, 10.5, 11.2);        // what the harness measured: an untrained model
    }

    [Fact]
    public void WorkInTheProgramsUntimedStepsIsTimed()
    {
        var (cli, row) = RunProgram(LadderRepo.FixtureProgram("HiddenWork.cs"));
        Assert.Equal("ok", row.Verdict);
        Assert.Equal(0, cli.ExitCode);
        var hidden = System.Text.RegularExpressions.Regex.Match(row.Log!, @"hidden: (\d+) ms of untimed training");
        Assert.True(hidden.Success, row.Log);
        double hiddenMs = double.Parse(hidden.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(hiddenMs > 0);
        // The harness's time holds the hidden steps, which the program's own train_time left out.
        Assert.True(row.TrainTimeMs - row.ProgramTrainTimeMs >= hiddenMs,
            $"harness {row.TrainTimeMs} ms, program {row.ProgramTrainTimeMs} ms, hidden {hiddenMs} ms");
    }

    [Fact]
    public void UntrainedModelMissesTheTarget()
    {
        var (cli, row) = RunProgram(LadderRepo.FixtureProgram("MissedTarget.cs"));
        Assert.Equal("missed_target", row.Verdict);
        Assert.Equal(1, cli.ExitCode);
        // An untrained model over the GPT-2 vocabulary: about ln(50257) = 10.825, far above the target 8.1.
        Assert.InRange(row.ValLoss!.Value, 10.5, 11.2);
        Assert.Contains("\"status\": \"missed_target\"", row.ResultsJson); // its own validation, on the monitor tokens, agrees
        Assert.InRange(row.ProgramValLoss!.Value - row.ValLoss.Value, -0.05, 0.05);
    }

    [Fact]
    public void ReachingTheTargetIsOk()
    {
        var record2 = Path.Combine(_repo.RecordDir(2), "Train.cs");
        var (cli, row) = RunProgram(record2);
        Assert.Equal("ok", row.Verdict);
        Assert.Equal(0, cli.ExitCode);
        // Nothing wrong; at most notes (other test classes time their runs beside this one: "other work ... busy").
        Assert.All((row.Problems ?? "").Split('\n', StringSplitOptions.RemoveEmptyEntries), p => Assert.StartsWith("note: ", p));
        Assert.InRange(row.ValLoss!.Value, 0, 8.1);
        Assert.Equal(30, row.NSteps);
        // The harness's numbers, with the program's own beside them: its own validation (on the monitor tokens, 1,024
        // others than the scored ones) and a shorter time (start-up, warm-up steps and validation count only in the
        // harness's).
        Assert.True(double.IsFinite(row.ProgramValLoss!.Value));
        // What else the machine did meanwhile is recorded with the time.
        var conditions = Speedrun.Benchmark.Runs.RunConditions.FromJson(row.Conditions);
        Assert.NotNull(conditions);
        int cpus = File.ReadLines("/proc/stat").Count(l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^cpu\d"));
        Assert.Equal(cpus, conditions.Cpus);
        Assert.InRange(conditions.OtherCores, 0, cpus + 0.1); // /proc/stat ticks and getrusage differ by rounding
        Assert.True(row.TrainTimeMs > row.ProgramTrainTimeMs, $"harness {row.TrainTimeMs} ms, program {row.ProgramTrainTimeMs} ms");
        Assert.Equal([0, 30], row.Validations.Select(v => v.Step));
        Assert.Contains("\"n_steps\": 30", row.ResultsJson); // its own status may differ: it judged itself on other tokens
        Assert.Contains("step:30/30 val_loss:", row.Log);
    }

    [Fact]
    public void ACorruptShardIsTheHarnesssDataErrorAndTheProgramNeverStarts()
    {
        // The track trains on "FineWeb" from a folder with one val shard whose header is zeros and no train shard.
        var shards = Directory.CreateDirectory(Path.Combine(_repo.Root, "shards")).FullName;
        var corrupt = Path.Combine(shards, "fineweb_val_000000.bin");
        File.WriteAllBytes(corrupt, new byte[1024 + 64]);
        var trackFile = Path.Combine(_repo.Root, "tracks", "ladder.json");
        File.WriteAllText(trackFile, File.ReadAllText(trackFile).Replace("\"default-corpus\"", "\"fineweb\""));
        var environment = new Dictionary<string, string?>(_repo.Environment) { ["SPEEDRUN_FINEWEB_DIR"] = shards };
        var workspace = _repo.Workspace(program: Path.Combine(_repo.RecordDir(2), "Train.cs"));

        var cli = SpeedrunCli.Run(environment, TimeSpan.FromMinutes(5), "run", workspace, "--track", LadderRepo.Track, "--agent", "fixture");

        var row = Assert.Single(_repo.StoredRuns());
        Assert.Equal("data_error", row.Verdict);
        Assert.Equal(1, cli.ExitCode);
        Assert.StartsWith("data_error ", cli.Stdout.Trim());
        Assert.Contains($"{corrupt}: ", row.Problems);                       // the file, named
        Assert.Contains("fineweb_train_*.bin' matched no files", row.Problems); // and the missing train shards
        Assert.Contains(corrupt, row.Log);
        Assert.False(File.Exists(Path.Combine(row.OutDir!, "stdout.txt")), "the program was started");
        Assert.Null(row.TrainTimeMs);
    }
}
