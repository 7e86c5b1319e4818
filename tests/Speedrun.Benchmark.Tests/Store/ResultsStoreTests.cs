using Microsoft.Data.Sqlite;
using Speedrun.Benchmark.Store;
using Speedrun.Core.Training;
using Speedrun.Tests.Shared;

namespace Speedrun.Benchmark.Tests.Store;

/// <summary>The results store: migrations, the version guard, and rows with their validations.</summary>
public sealed class ResultsStoreTests : IDisposable
{
    readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    static object? Pragma(string path, string pragma)
    {
        using var db = new SqliteConnection($"Data Source={path};Pooling=False");
        db.Open();
        using var cmd = db.CreateCommand();
        cmd.CommandText = $"PRAGMA {pragma}";
        return cmd.ExecuteScalar();
    }

    static RunRecord Sample(string uid, string kind = "agent", int record = 3, string fingerprint = "cpu test x2") => new()
    {
        Uid = uid, Kind = kind, Record = record, Hints = kind == "agent" ? "1,2" : null, Agent = kind == "agent" ? "claude" : null,
        Track = "tiny", Seed = 4, Verdict = "ok", ValLoss = 4.75, TrainTimeMs = 1234.5, NSteps = 384, StepAvgMs = 3.25,
        ProgramValLoss = 4.7501, ProgramTrainTimeMs = 1100.25, Sandbox = "bubblewrap 0.8.0",
        Conditions = "{\"other_cores\": 0.010, \"steal_fraction\": 0.0000, \"load_at_start\": 1.02, \"cpus\": 2}", Session = "s-1",
        Fingerprint = fingerprint, Device = "cpu", SourceSha256 = new string('a', 64), Source = "// the program\n",
        TrackSha256 = new string('t', 64), ReferenceSha256 = kind == "agent" ? new string('b', 64) + "," + new string('c', 64) : null,
        Log = "step:0/384 val_loss:10.9830 train_time:0ms step_avg:0.00ms\n", ResultsJson = "{\"status\": \"ok\"}",
        Problems = "first\nsecond", OutDir = "/tmp/runs/" + uid,
        StartedAt = new DateTimeOffset(2026, 11, 27, 8, 30, 0, TimeSpan.Zero), DurationSeconds = 12.5,
        Validations = [new ValPoint(0, 10.983, 0), new ValPoint(128, 6.5, 600.25), new ValPoint(256, double.NaN, 1200)],
    };

    [Fact]
    public void Opening_an_empty_file_migrates_it_to_the_current_version()
    {
        var path = _dir.File("empty.db");
        File.WriteAllBytes(path, []);
        using (var store = ResultsStore.Open(path)) Assert.Equal(0, store.Count());
        Assert.Equal(8, ResultsStore.SchemaVersion);
        Assert.Equal(8L, Pragma(path, "user_version"));
        Assert.Equal("wal", Pragma(path, "journal_mode"));
        // Opening again runs no migration twice (it would fail: the tables exist).
        using (var again = ResultsStore.Open(path)) Assert.Equal(0, again.Count());
        Assert.Equal(8L, Pragma(path, "user_version"));
    }

    [Fact]
    public void A_store_from_a_newer_speedrun_is_refused_and_left_alone()
    {
        var path = _dir.File("newer.db");
        using (ResultsStore.Open(path)) { }
        using (var db = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            db.Open();
            using var cmd = db.CreateCommand();
            cmd.CommandText = "PRAGMA user_version = 9";
            cmd.ExecuteNonQuery();
        }
        var e = Assert.Throws<InvalidOperationException>(() => ResultsStore.Open(path));
        Assert.Equal($"{Path.GetFullPath(path)}: results store schema version 9 is newer than this speedrun understands (8); upgrade speedrun.", e.Message);
        Assert.Equal(9L, Pragma(path, "user_version"));
    }

    [Fact]
    public void Rows_round_trip_with_their_validations()
    {
        var path = _dir.File("store.db");
        var run = Sample("run-1");
        long id;
        using (var store = ResultsStore.Open(path)) id = store.Add(run);

        using var reopened = ResultsStore.Open(path);
        var back = Assert.Single(reopened.Runs(withText: true));
        Assert.Equal(id, back.Id);
        Assert.Equal(run with { Id = id, Validations = back.Validations }, back);
        Assert.Equal(3, back.Validations.Count);
        Assert.Equal(new ValPoint(0, 10.983, 0), back.Validations[0]);
        Assert.Equal(new ValPoint(128, 6.5, 600.25), back.Validations[1]);
        Assert.Equal(256, back.Validations[2].Step);
        Assert.True(double.IsNaN(back.Validations[2].ValLoss)); // stored as NULL, read back as NaN
        Assert.Equal(1200, back.Validations[2].TrainTimeMs);

        // Without text: the large columns stay in the database.
        var light = Assert.Single(reopened.Runs());
        Assert.Equal("", light.Source);
        Assert.Null(light.Log);
        Assert.Null(light.ResultsJson);
        Assert.Equal(3, light.Validations.Count);
    }

    [Fact]
    public void Non_finite_numbers_are_stored_as_null()
    {
        using var store = ResultsStore.Open(_dir.File("nan.db"));
        store.Add(Sample("nan") with { ValLoss = double.NaN, TrainTimeMs = null, NSteps = null, Validations = [] });
        var back = Assert.Single(store.Runs());
        Assert.Null(back.ValLoss);
        Assert.Null(back.TrainTimeMs);
        Assert.Null(back.NSteps);
        Assert.Empty(back.Validations);
    }

    [Fact]
    public void Filters_select_by_kind_track_fingerprint_and_record()
    {
        using var store = ResultsStore.Open(_dir.File("filters.db"));
        store.Add(Sample("a", kind: "agent", record: 3));
        store.Add(Sample("b", kind: "calibration", record: 3));
        store.Add(Sample("c", kind: "calibration", record: 4, fingerprint: "gpu"));
        store.Add(Sample("d", kind: "calibration", record: 4) with { Track = "mini" });
        Assert.Equal(["b", "c", "d"], store.Runs(kind: "calibration").Select(r => r.Uid));
        Assert.Equal(["a", "b", "c"], store.Runs(track: "tiny").Select(r => r.Uid));
        Assert.Equal(["c"], store.Runs(fingerprint: "gpu").Select(r => r.Uid));
        Assert.Equal(["c", "d"], store.Runs(record: 4).Select(r => r.Uid));
        Assert.Equal(4, store.Count());
    }

    [Fact]
    public void A_uid_is_never_reused_and_the_first_row_survives()
    {
        using var store = ResultsStore.Open(_dir.File("unique.db"));
        store.Add(Sample("same"));
        Assert.Throws<SqliteException>(() => store.Add(Sample("same") with { Verdict = "crashed", Validations = [] }));
        var kept = Assert.Single(store.Runs());
        Assert.Equal("ok", kept.Verdict);
        Assert.Equal(3, kept.Validations.Count);
    }

    static void Sql(string path, string sql)
    {
        using var db = new SqliteConnection($"Data Source={path};Pooling=False");
        db.Open();
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    [Fact]
    public void A_version_1_store_keeps_its_rows_when_migrated()
    {
        var path = _dir.File("v1.db");
        using (var store = ResultsStore.Open(path)) store.Add(Sample("old"));
        Sql(path, "ALTER TABLE runs DROP COLUMN runner; ALTER TABLE runs DROP COLUMN deadline; " +
                  "ALTER TABLE runs DROP COLUMN track_sha256; ALTER TABLE runs DROP COLUMN reference_sha256; DROP TABLE workspaces; " +
                  "ALTER TABLE runs DROP COLUMN program_train_time_ms; ALTER TABLE runs DROP COLUMN program_val_loss; " +
                  "ALTER TABLE runs DROP COLUMN sandbox; ALTER TABLE runs DROP COLUMN conditions; ALTER TABLE runs DROP COLUMN session; " +
                  "DROP TABLE agent_attempts; DROP TABLE agent_calls; DROP TABLE agent_sessions; PRAGMA user_version = 1;");
        using (var migrated = ResultsStore.Open(path))
        {
            var back = Assert.Single(migrated.Runs(withText: true));
            // A row from before schema 3 has no recorded versions, and one from before schema 5 no program's own numbers.
            Assert.Equal(Sample("old") with
            {
                Id = back.Id, Validations = back.Validations, TrackSha256 = null, ReferenceSha256 = null, ProgramValLoss = null,
                ProgramTrainTimeMs = null, Sandbox = null, Conditions = null, Session = null,
            }, back);
        }
        Assert.Equal(8L, Pragma(path, "user_version"));
    }

    [Fact]
    public void Importing_another_store_adds_what_this_one_lacks_once()
    {
        var devicePath = _dir.File("device.db");
        var workspace = new WorkspaceRecord("feedbeef", 2, "1", new string('e', 64), "/tmp/w", new DateTimeOffset(2026, 11, 30, 9, 0, 0, TimeSpan.Zero));
        using (var device = ResultsStore.Open(devicePath))
        {
            device.Add(Sample("shared"));
            device.Add(Sample("device-only") with { Kind = "calibration", Hints = null, Agent = null, ReferenceSha256 = null });
            device.Start(Sample("unfinished"), DateTimeOffset.UtcNow.AddHours(1));
            device.AddWorkspace(workspace);
        }
        var mainPath = _dir.File("main.db");
        using var main = ResultsStore.Open(mainPath);
        main.Add(Sample("shared"));

        var result = main.Import(devicePath);
        Assert.Equal(new ResultsStore.ImportResult(Added: 1, AlreadyHere: 1, StillRunning: 1, Workspaces: 1), result);
        var imported = main.Runs(withText: true).Single(r => r.Uid == "device-only");
        Assert.Equal(Sample("device-only") with
        {
            Id = imported.Id, Kind = "calibration", Hints = null, Agent = null, ReferenceSha256 = null, Validations = imported.Validations,
        }, imported);
        Assert.Equal(3, imported.Validations.Count);
        Assert.Equal(workspace, main.FindWorkspace("feedbeef"));

        Assert.Equal(new ResultsStore.ImportResult(0, 2, 1, 0), main.Import(devicePath)); // again: nothing new
        Assert.Equal(2, main.Count());
        Assert.Throws<FileNotFoundException>(() => main.Import(_dir.File("missing.db")));
    }

    [Fact]
    public void A_started_run_is_stored_as_running_and_finish_completes_the_same_row()
    {
        var path = _dir.File("start.db");
        using var store = ResultsStore.Open(path);
        var run = Sample("started");
        long id = store.Start(run with { Verdict = "anything", ValLoss = null, TrainTimeMs = null }, DateTimeOffset.UtcNow.AddHours(1));
        var running = Assert.Single(store.Runs());
        Assert.Equal((id, "running"), (running.Id, running.Verdict));
        Assert.Null(running.ValLoss);
        Assert.Empty(running.Validations);

        store.Finish(id, run);
        using var reopened = ResultsStore.Open(path); // this runner is alive: nothing to close
        var back = Assert.Single(reopened.Runs(withText: true));
        Assert.Equal(run with { Id = id, Validations = back.Validations }, back);
        Assert.Equal(3, back.Validations.Count);
    }

    [Fact]
    public void A_running_row_whose_runner_died_becomes_interrupted_on_the_next_open()
    {
        var path = _dir.File("dead.db");
        using (var store = ResultsStore.Open(path))
            store.Start(Sample("orphan"), DateTimeOffset.UtcNow.AddHours(1));
        using (var dead = System.Diagnostics.Process.Start("true")!)
        {
            dead.WaitForExit();
            Sql(path, $"UPDATE runs SET runner = '{Environment.MachineName}:{dead.Id}'");
        }
        using var reopened = ResultsStore.Open(path);
        var row = Assert.Single(reopened.Runs());
        Assert.Equal("interrupted", row.Verdict);
        Assert.Contains("stopped before the run finished", row.Problems);
    }

    [Fact]
    public void A_running_row_of_a_live_runner_stays_running_until_its_deadline()
    {
        using var store = ResultsStore.Open(_dir.File("live.db"));
        var deadline = DateTimeOffset.UtcNow.AddMinutes(30);
        store.Start(Sample("mine"), deadline);
        Assert.Equal(0, store.CloseAbandonedRuns(deadline.AddMinutes(-1)));
        Assert.Equal("running", Assert.Single(store.Runs()).Verdict);
        Assert.Equal(1, store.CloseAbandonedRuns(deadline.AddMinutes(1)));
        var row = Assert.Single(store.Runs());
        Assert.Equal("interrupted", row.Verdict);
        Assert.Contains("had not finished it by its deadline", row.Problems);
    }

    [Fact]
    public void A_workspace_round_trips_and_an_unknown_one_is_null()
    {
        using var store = ResultsStore.Open(_dir.File("workspaces.db"));
        var made = new WorkspaceRecord("0123abcd", 3, "1,2", new string('e', 64), "/tmp/attempt",
            new DateTimeOffset(2026, 11, 30, 9, 0, 0, TimeSpan.Zero));
        store.AddWorkspace(made);
        Assert.Equal(made, store.FindWorkspace("0123abcd"));
        Assert.Null(store.FindWorkspace("ffff"));
        Assert.Throws<SqliteException>(() => store.AddWorkspace(made with { Hints = "none" })); // an id is recorded once
        Assert.Equal("1,2", store.FindWorkspace("0123abcd")!.Hints);
    }
}
