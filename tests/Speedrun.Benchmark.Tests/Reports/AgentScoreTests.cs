using System.Text.Json;
using Speedrun.Benchmark.Reports;
using Speedrun.Benchmark.Store;
using Speedrun.Tests.Shared;

namespace Speedrun.Benchmark.Tests.Reports;

/// <summary>The report's model × scaffold × hints table, against values worked out by hand.</summary>
public sealed class AgentScoreTests : IDisposable
{
    readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    static int _uid;

    static RunRecord Run(string kind, int record, double ms, string? hints = null, string? agent = null, string verdict = "ok") => new()
    {
        Uid = $"a{Interlocked.Increment(ref _uid)}", Kind = kind, Record = record, Hints = hints, Agent = agent, Track = "tiny", Seed = 0,
        Verdict = verdict, TrainTimeMs = verdict == "ok" ? ms : null, Fingerprint = "m", SourceSha256 = new string('0', 64), Source = "",
        StartedAt = DateTimeOffset.UnixEpoch,
    };

    // Task 1: t_1 = 100, t_2 = 60 (identical calibrations); task 3: t_3 = 50, t_4 = 40.
    static readonly RunRecord[] Calibrations =
    [
        Run("calibration", 1, 100), Run("calibration", 1, 100), Run("calibration", 2, 60), Run("calibration", 2, 60),
        Run("calibration", 3, 50), Run("calibration", 4, 40),
    ];

    static readonly RunRecord[] Runs =
    [
        .. Calibrations,
        // gpt@aide, hints 1,2: task 1 at 80 and 60 -> FSR 0.5 and 1, mean 0.75; task 3 at 45 -> 0.5. Over tasks: 0.625.
        Run("agent", 1, 80, "1,2", "gpt@aide"), Run("agent", 1, 60, "1,2", "gpt@aide"), Run("agent", 3, 45, "1,2", "gpt@aide"),
        // Its search runs: never in the table, however fast.
        Run("agent", 1, 10, "1,2", "gpt@aide:search"), Run("agent", 3, 10, "1,2", "gpt@aide:search"),
        // gpt@flat, hints 1,2: a session without a program (two no_program runs, FSR 0 each) and an interrupted run
        // (counted, not scored): mean 0, interval [0, 0].
        Run("agent", 1, 0, "1,2", "gpt@flat", "no_program"), Run("agent", 1, 0, "1,2", "gpt@flat", "no_program"),
        Run("agent", 1, 0, "1,2", "gpt@flat", "interrupted"),
        // The same model and scaffold without hints: its own row. One run at 60 on task 1: FSR 1.
        Run("agent", 1, 60, "none", "gpt@aide"),
        // Labels that are not MODEL@SCAFFOLD: a person's `speedrun run --agent`, or no label.
        Run("agent", 1, 70, "1,2", "alice"), Run("agent", 1, 70, "1,2", "me@laptop"), Run("agent", 1, 70, "1,2"),
        // A model name with its own '@', through bon, on a task that has no calibrations: counted, not scored.
        Run("agent", 5, 30, "2", "org/model@v2@bon"),
    ];

    [Fact]
    public void One_row_per_model_scaffold_and_hints_from_the_final_runs()
    {
        var aggregates = HintAggregate.Compute(Runs, "tiny", resamples: 2000);
        var rows = AgentScore.Compute(Runs, "tiny", aggregates);
        Assert.Equal([("gpt", "flat", "1,2"), ("gpt", "aide", "none"), ("gpt", "aide", "1,2"), ("org/model@v2", "bon", "2")],
            rows.Select(r => (r.Model, r.Scaffold, r.Hints)));

        var flat = rows[0];
        Assert.Equal(("gpt@flat", 1, 1, 2, 0, "interrupted 1, no_program 2"), (flat.Agent, flat.Tasks, flat.TasksScored, flat.Runs, flat.Ok, flat.VerdictsText));
        Assert.Equal((0.0, 0.0, 0.0), (flat.MeanFsr, flat.Low, flat.High));

        var none = rows[1];
        Assert.Equal((1, 1, 1, 1, 1.0, 1.0, 1.0), (none.Tasks, none.TasksScored, none.Runs, none.Ok, none.MeanFsr, none.Low, none.High));

        // Mean over tasks 0.625, as HintAggregate computes it (the same rows, the same bootstrap): a draw of two tasks
        // averages task 1's resampled mean (0.5, 0.75 or 1) with task 3's 0.5, or takes one task twice; the extremes
        // are 0.5 (task 1 at 0.5 twice, or task 3 twice: 1/4 · 1/16 + 1/4 > 2.5%) and 1 (task 1 at 1 twice: 1/4 · 1/16 = 1.6% < 2.5%,
        // so the upper end is below 1).
        var aide = rows[2];
        var expected = Assert.Single(aggregates, a => a.Agent == "gpt@aide" && a.Hints == "1,2");
        Assert.Equal((2, 2, 3, 3, expected.MeanFsr, expected.Low, expected.High),
            (aide.Tasks, aide.TasksScored, aide.Runs, aide.Ok, aide.MeanFsr, aide.Low, aide.High));
        Assert.Equal(0.625, aide.MeanFsr!.Value, 12);
        Assert.Equal(0.5, aide.Low!.Value, 12);
        Assert.True(aide.High < 1 && aide.High >= 0.75, $"upper end {aide.High}");

        var uncalibrated = rows[3];
        Assert.Equal(("org/model@v2@bon", 1, 0, 1, 1), (uncalibrated.Agent, uncalibrated.Tasks, uncalibrated.TasksScored, uncalibrated.Runs, uncalibrated.Ok));
        Assert.Null(uncalibrated.MeanFsr);
        Assert.Null(uncalibrated.Low);
    }

    [Theory]
    [InlineData("gpt-4o@aide", "gpt-4o", "aide")]
    [InlineData("a@b@flat", "a@b", "flat")]
    [InlineData("gpt-4o@aide:search", null, null)]
    [InlineData("gpt-4o@tree", null, null)]
    [InlineData("@bon", null, null)]
    [InlineData("alice", null, null)]
    public void Labels_split_into_model_and_scaffold(string label, string? model, string? scaffold) =>
        Assert.Equal(model is null ? null : (model, scaffold!), AgentScore.Split(label));

    [Fact]
    public void The_report_writes_the_table_its_csv_and_scores_json()
    {
        var report = BenchmarkReport.Build(Runs, track: null, "/tmp/store.db", _ => null, resamples: 2000);
        var dir = _dir.File("report");
        var files = ReportWriter.Write(report, dir);
        Assert.Contains("agents-tiny.csv", files);
        var csv = File.ReadAllLines(Path.Combine(dir, "agents-tiny.csv"));
        Assert.Equal("track,model,scaffold,hints,agent,tasks,tasks_scored,runs,ok,verdicts,mean_fsr,ci_low,ci_high", csv[0]);
        Assert.Equal("tiny,gpt,flat,\"1,2\",gpt@flat,1,1,2,0,\"interrupted 1, no_program 2\",0,0,0", csv[1]);
        Assert.StartsWith("tiny,gpt,aide,\"1,2\",gpt@aide,2,2,3,3,ok 3,0.625,0.5,", csv[3]);
        Assert.Equal("tiny,org/model@v2,bon,2,org/model@v2@bon,1,0,1,1,ok 1,,,", csv[4]);
        Assert.Equal(5, csv.Length);

        var md = File.ReadAllText(Path.Combine(dir, "report.md"));
        Assert.Contains("### Models × scaffolds × hints", md);
        Assert.Contains("| gpt | flat | 1,2 | 1 of 1 | 2 | 0 | interrupted 1, no_program 2 | 0.000 | [0.000, 0.000] |", md);
        Assert.Contains("| gpt | aide | none | 1 of 1 | 1 | 1 | ok 1 | 1.000 | [1.000, 1.000] |", md);
        Assert.Contains("| org/model@v2 | bon | 2 | 0 of 1 | 1 | 1 | ok 1 | — | — |", md);
        Assert.DoesNotContain(":search |", md.Split("### Models × scaffolds × hints")[1]);

        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "scores.json")));
        var agents = json.RootElement.GetProperty("tracks")[0].GetProperty("agents");
        Assert.Equal(4, agents.GetArrayLength());
        Assert.Equal("gpt", agents[2].GetProperty("model").GetString());
        Assert.Equal(0.625, agents[2].GetProperty("mean_fsr").GetDouble(), 12);
        Assert.Equal(2, agents[0].GetProperty("verdicts").GetProperty("no_program").GetInt32());
    }
}
