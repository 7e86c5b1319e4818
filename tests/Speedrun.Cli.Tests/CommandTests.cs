using Speedrun.Benchmark.Store;

namespace Speedrun.Cli.Tests;

/// <summary>`speedrun records`, `task`, and what `run`, `calibrate`, `score` and `report` say when the user
/// gets something wrong. Fast: nothing here trains.</summary>
public sealed class CommandTests : IDisposable
{
    readonly LadderRepo _repo = new();

    public void Dispose() => _repo.Dispose();

    [Fact]
    public void RecordsListsRunnableRecordsAndOpenTasks()
    {
        var result = _repo.Cli("records");
        Assert.Equal(0, result.ExitCode);
        var lines = result.Stdout.Split('\n');
        Assert.Matches(@"^1 +Slow bigram \(test fixture\) +2024-05-28 +2 min +baseline +yes +yes$", lines.Single(l => l.StartsWith("1 ")).TrimEnd());
        Assert.Matches(@"^2 +Fast bigram \(test fixture\) +2024-06-06 +1 min +algorithmic +yes +-$", lines.Single(l => l.StartsWith("2 ")).TrimEnd());
        Assert.Contains("runnable records: 1, 2", result.Stdout);
        Assert.Contains("open tasks: 1 ", result.Stdout);
    }

    [Fact]
    public void RecordsOfTheRealRepositoryListTheProgramsAndTheOpenTasks()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(root.FullName, "Speedrun.sln"))) root = root.Parent!;
        var result = SpeedrunCli.Run(new Dictionary<string, string?> { ["SPEEDRUN_HOME"] = root.FullName }, TimeSpan.FromMinutes(2), "records");
        Assert.Equal(0, result.ExitCode);
        // What the repository holds decides the answer: a record is runnable when its Train.cs exists, and task N
        // is open when records N and N+1 both are (6 to 7 is never a task).
        var runnable = Enumerable.Range(1, 21)
            .Where(n => Directory.GetDirectories(Path.Combine(root.FullName, "records"), $"{n:D2}-*").Any(d => File.Exists(Path.Combine(d, "Train.cs"))))
            .ToList();
        var open = runnable.Where(n => n != 6 && runnable.Contains(n + 1)).ToList();
        var stdout = result.Stdout.Replace("\r", "");
        Assert.Contains($"runnable records: {string.Join(", ", runnable)}\n", stdout);
        Assert.Contains(open.Count == 0 ? "open tasks: none yet" : $"open tasks: {string.Join(", ", open)} (", stdout);
        Assert.Contains("not a task: record 6 to 7", stdout);
        Assert.Contains(1, runnable);
    }

    /// <summary>A malformed track file is named with its field in one line on stderr, exit code 2, no stack trace.</summary>
    [Fact]
    public void AMalformedTrackFileIsNamedWithoutAStackTrace()
    {
        var path = Path.Combine(_repo.Root, "tracks", "ladder.json");
        File.WriteAllText(path, File.ReadAllText(path).Replace("\"val_tokens\"", "\"sequence_length\": 64, \"val_tokens\""));
        var result = _repo.Cli("records");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("error: ", result.Stderr);
        Assert.Contains("ladder.json", result.Stderr);
        Assert.Contains("sequence_length", result.Stderr);
        Assert.DoesNotContain("   at ", result.Stderr);
    }

    [Fact]
    public void TaskWritesAWorkspaceWithTheChosenHints()
    {
        var dir = Path.Combine(_repo.Root, "ws");
        var result = _repo.Cli("task", "1", "--hints", "2,1", "--out", dir);
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("task 1 (record 1 to 2), hints 1,2", result.Stdout);
        Assert.Equal(File.ReadAllText(Path.Combine(_repo.RecordDir(1), "Train.cs")), File.ReadAllText(Path.Combine(dir, "Train.cs")));
        Assert.Equal(["level1-pseudocode.md", "level2-description.md"],
            Directory.GetFiles(Path.Combine(dir, "hints")).Select(Path.GetFileName).Order());
        Assert.Contains("\"hint_selection\": \"1,2\"", File.ReadAllText(Path.Combine(dir, "task.json")));
        // The store records the workspace, and runs take their task and hints from there.
        var manifest = Speedrun.Benchmark.Tasks.TaskManifest.Load(dir);
        using (var store = ResultsStore.Open(_repo.StorePath))
        {
            var recorded = store.FindWorkspace(manifest.WorkspaceId);
            Assert.NotNull(recorded);
            Assert.Equal((1, "1,2", manifest.StartTrainSha256, Path.GetFullPath(dir)),
                (recorded.Task, recorded.Hints, recorded.StartTrainSha256, recorded.Dir));
        }

        // A workspace is never overwritten.
        var again = _repo.Cli("task", "1", "--out", dir);
        Assert.Equal(2, again.ExitCode);
        Assert.Contains("not empty", again.Stderr);
    }

    [Theory]
    [InlineData("1,9", "'9' is not a hint level")]
    [InlineData("1,1", "lists level 1 twice")]
    public void TaskRejectsBadHints(string hints, string message)
    {
        var result = _repo.Cli("task", "1", "--hints", hints, "--out", Path.Combine(_repo.Root, "ws"));
        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith("error: --hints:", result.Stderr);
        Assert.Contains(message, result.Stderr);
        Assert.False(Directory.Exists(Path.Combine(_repo.Root, "ws")));
    }

    [Fact]
    public void TaskOnAMissingTaskNamesTheTasks()
    {
        var result = _repo.Cli("task", "2", "--out", Path.Combine(_repo.Root, "ws"));
        Assert.Equal(2, result.ExitCode);
        Assert.Equal("error: No task 2; tasks are numbered by their start record: 1.", result.Stderr.Trim());
    }

    [Fact]
    public void RunRefusesAFolderThatIsNeitherWorkspaceNorRecord()
    {
        var dir = Directory.CreateDirectory(Path.Combine(_repo.Root, "loose")).FullName;
        File.WriteAllText(Path.Combine(dir, "Train.cs"), "Console.WriteLine(1);");
        var result = _repo.Cli("run", dir, "--track", LadderRepo.Track);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("neither a task workspace (no task.json) nor a record folder (no record.json)", result.Stderr);
        Assert.False(File.Exists(_repo.StorePath)); // nothing was opened or created
    }

    [Fact]
    public void RunRefusesAnUnknownTrack()
    {
        var result = _repo.Cli("run", _repo.Workspace(), "--track", "huge");
        Assert.Equal(2, result.ExitCode);
        Assert.Equal("error: No track 'huge'; known tracks: ladder.", result.Stderr.Trim());
    }

    [Theory]
    [InlineData("--timeout", "1e300", "--timeout is 1E+300; give minutes above 0 and at most 10080 (a week).")]
    [InlineData("--timeout", "0", "--timeout is 0; give minutes above 0 and at most 10080 (a week).")]
    [InlineData("--timeout", "NaN", "--timeout is NaN; give minutes above 0 and at most 10080 (a week).")]
    [InlineData("--first-seed", "2147483647", "--first-seed 2147483647 with --seeds 2 runs past the largest seed, 2147483647.")]
    public void RunRefusesNumbersOutOfRangeNamingTheOption(string option, string value, string message)
    {
        var result = _repo.Cli("run", _repo.Workspace(), "--track", LadderRepo.Track, "--seeds", "2", option, value);
        Assert.Equal(2, result.ExitCode);
        Assert.Equal($"error: {message}", result.Stderr.Trim());
        Assert.Empty(_repo.StoredRuns()); // refused before any run
    }

    [Fact]
    public void TheRunsHintsComeFromTheStoreNotFromAnEditedTaskJson()
    {
        var workspace = _repo.Workspace(hints: "1", program: LadderRepo.FixtureProgram("CompileError.cs"));
        var manifestPath = Path.Combine(workspace, "task.json");
        File.WriteAllText(manifestPath, File.ReadAllText(manifestPath).Replace("\"hint_selection\": \"1\"", "\"hint_selection\": \"none\""));
        Assert.Contains("\"hint_selection\": \"none\"", File.ReadAllText(manifestPath));

        var result = _repo.Cli("run", workspace, "--track", LadderRepo.Track);
        Assert.Equal("1", Assert.Single(_repo.StoredRuns()).Hints);
        Assert.Contains("says task 1 with hints none, but the store recorded task 1 with hints 1", result.Stderr);
    }

    [Fact]
    public void AWorkspaceTheStoreNeverRecordedIsRefused()
    {
        var workspace = _repo.Workspace(register: false);
        var result = _repo.Cli("run", workspace, "--track", LadderRepo.Track);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("is not recorded in the results store", result.Stderr);
        Assert.Contains("speedrun task N --hints H --out DIR", result.Stderr);
        Assert.Empty(_repo.StoredRuns());
    }

    [Fact]
    public void CalibrateRejectsABadRange()
    {
        var result = _repo.Cli("calibrate", "--track", LadderRepo.Track, "--records", "2..5");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("records are numbered 1 to 2", result.Stderr);
        Assert.False(File.Exists(_repo.StorePath));
    }

    [Fact]
    public void CalibrateSaysWhichRecordsItSkips()
    {
        File.Delete(Path.Combine(_repo.RecordDir(2), "Train.cs"));
        var result = _repo.Cli("calibrate", "--track", LadderRepo.Track, "--records", "2");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains($"skipping record 2 (Fast bigram (test fixture)): {Path.Combine(_repo.RecordDir(2), "Train.cs")} does not exist yet", result.Stderr);
        Assert.Contains("error: No runnable record in 2..2", result.Stderr);
    }

    [Fact]
    public void ScoreAndReportNeedAStore()
    {
        var score = _repo.Cli("score");
        Assert.Equal(2, score.ExitCode);
        Assert.Contains($"No results store at {_repo.StorePath}", score.Stderr);
        var report = _repo.Cli("report", "--out", Path.Combine(_repo.Root, "report"));
        Assert.Equal(2, report.ExitCode);
        Assert.Contains("No results store", report.Stderr);
    }

    static RunRecord Row(string uid, string kind, int record, string fingerprint, double ms, string verdict = "ok", string? hints = null) => new()
    {
        Uid = uid, Kind = kind, Record = record, Hints = hints, Track = LadderRepo.Track, Seed = 0, Verdict = verdict,
        TrainTimeMs = ms, ValLoss = 7.5, Fingerprint = fingerprint, SourceSha256 = new string('0', 64), Source = "// program",
        StartedAt = DateTimeOffset.UnixEpoch,
    };

    [Fact]
    public void ScoreRefusesToMixFingerprintsAndNamesBoth()
    {
        using (var store = ResultsStore.Open(_repo.StorePath))
        {
            store.Add(Row("c1", "calibration", 1, "machine-A", 1000));
            store.Add(Row("c2", "calibration", 2, "machine-A", 400));
            store.Add(Row("a1", "agent", 1, "machine-B", 500, hints: "none"));
        }
        var result = _repo.Cli("score");
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("track ladder | hardware machine-B", result.Stdout);
        Assert.Matches(@"\n1 +none +- +1 +1 +ok 1 +- +- +- +- +- +-", result.Stdout); // no agent label, nothing scored
        Assert.Contains("timed on 'machine-B'", result.Stdout);
        Assert.Contains("record 1 is calibrated only on a different fingerprint, 'machine-A'", result.Stdout);
        Assert.Contains("record 2 is calibrated only on a different fingerprint, 'machine-A'", result.Stdout);
        Assert.Contains("speedrun calibrate --track ladder --records 1..2", result.Stdout);
    }

    [Fact]
    public void ScoreSaysWhichRecordToCalibrate()
    {
        using (var store = ResultsStore.Open(_repo.StorePath))
        {
            store.Add(Row("c1", "calibration", 1, "machine-A", 1000));
            store.Add(Row("a1", "agent", 1, "machine-A", 500, hints: "1"));
        }
        var result = _repo.Cli("score");
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("record 2 has no calibration on this track", result.Stdout);
        Assert.Contains("speedrun calibrate --track ladder --records 2", result.Stdout);
    }
}
