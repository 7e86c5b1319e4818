using Microsoft.Data.Sqlite;
using Speedrun.Benchmark.Runs;
using Speedrun.Core.Training;

namespace Speedrun.Benchmark.Store;

/// <summary>
/// The results store: one SQLite file (WAL, a busy timeout, so several `speedrun run` processes can write at
/// once), versioned with PRAGMA user_version and migrated forward on open. Reports query its real columns.
/// </summary>
public sealed partial class ResultsStore : IDisposable
{
    /// <summary>Forward migrations; index i takes the schema from version i to i + 1. Never edit one that shipped.</summary>
    static readonly string[] Migrations =
    [
        """
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            uid TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL CHECK (kind IN ('calibration', 'agent')),
            record INTEGER NOT NULL,
            hints TEXT,
            agent TEXT,
            track TEXT NOT NULL,
            seed INTEGER NOT NULL,
            verdict TEXT NOT NULL,
            val_loss REAL,
            train_time_ms REAL,
            n_steps INTEGER,
            step_avg_ms REAL,
            fingerprint TEXT NOT NULL,
            device TEXT,
            source_sha256 TEXT NOT NULL,
            source TEXT NOT NULL,
            log TEXT,
            results_json TEXT,
            problems TEXT,
            out_dir TEXT,
            started_at TEXT NOT NULL,
            duration_s REAL NOT NULL
        );
        CREATE INDEX runs_by_task ON runs (kind, track, fingerprint, record, hints);
        CREATE TABLE validations (
            run_id INTEGER NOT NULL REFERENCES runs (id),
            step INTEGER NOT NULL,
            val_loss REAL,
            train_time_ms REAL NOT NULL
        );
        CREATE INDEX validations_by_run ON validations (run_id);
        """,
        // 2: a run is stored when it starts (verdict 'running'), by a runner ("host:pid") that must finish it
        // before its deadline; a row whose runner is gone becomes 'interrupted'.
        """
        ALTER TABLE runs ADD COLUMN runner TEXT;
        ALTER TABLE runs ADD COLUMN deadline TEXT;
        """,
        // 3: what a run's time may be compared with: the track file it used, and for an agent run the programs of
        // the two records its task is scored against.
        """
        ALTER TABLE runs ADD COLUMN track_sha256 TEXT;
        ALTER TABLE runs ADD COLUMN reference_sha256 TEXT;
        """,
        // 4: the workspaces `speedrun task` made: a run's task and hints come from here, not from the editable task.json.
        """
        CREATE TABLE workspaces (
            id TEXT PRIMARY KEY,
            task INTEGER NOT NULL,
            hints TEXT NOT NULL,
            start_train_sha256 TEXT NOT NULL,
            dir TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        """,
        // 5: the harness measures: from here on train_time_ms is the training process's wall time and val_loss the
        // harness's evaluation of the saved model; the program's own numbers are kept beside them, and the sandbox the
        // program ran in ('none' when unsandboxed). Rows stored before have NULL here (their train_time_ms and
        // val_loss were the program's).
        """
        ALTER TABLE runs ADD COLUMN program_train_time_ms REAL;
        ALTER TABLE runs ADD COLUMN program_val_loss REAL;
        ALTER TABLE runs ADD COLUMN sandbox TEXT;
        """,
        // 6: what else the machine did while the program trained (RunConditions as JSON), so a time taken under load
        // can be told apart.
        """
        ALTER TABLE runs ADD COLUMN conditions TEXT;
        """,
        // 7: the `speedrun` invocation a run belonged to, so that references timed beside an agent's runs
        // (`run --with-references`) can be told from calibrations taken at another time.
        """
        ALTER TABLE runs ADD COLUMN session TEXT;
        """,
        // 8: `speedrun agent`: its sessions, every model call (one row per try) and every attempt (a node of the search
        // or a final run, with the runs row it was timed in). See ResultsStore.Agents.cs.
        """
        CREATE TABLE agent_sessions (
            id TEXT PRIMARY KEY,
            task INTEGER NOT NULL,
            hints TEXT NOT NULL,
            model TEXT NOT NULL,
            endpoint TEXT NOT NULL,
            scaffold TEXT NOT NULL,
            agent TEXT NOT NULL,
            track TEXT NOT NULL,
            settings TEXT NOT NULL,
            workspace_id TEXT NOT NULL,
            dir TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL,
            best_node INTEGER,
            stop_reason TEXT
        );
        CREATE TABLE agent_calls (
            id INTEGER PRIMARY KEY,
            session_id TEXT NOT NULL REFERENCES agent_sessions (id),
            node INTEGER NOT NULL,
            parent_node INTEGER,
            stage TEXT NOT NULL,
            try INTEGER NOT NULL,
            prompt TEXT NOT NULL,
            response TEXT,
            tokens_in INTEGER,
            tokens_out INTEGER,
            latency_s REAL NOT NULL,
            error TEXT,
            started_at TEXT NOT NULL
        );
        CREATE INDEX agent_calls_by_session ON agent_calls (session_id, node);
        CREATE TABLE agent_attempts (
            id INTEGER PRIMARY KEY,
            session_id TEXT NOT NULL REFERENCES agent_sessions (id),
            node INTEGER NOT NULL,
            parent_node INTEGER,
            stage TEXT NOT NULL,
            call_id INTEGER REFERENCES agent_calls (id),
            reply_format TEXT NOT NULL,
            source TEXT,
            source_sha256 TEXT,
            verdict TEXT NOT NULL,
            run_id INTEGER REFERENCES runs (id),
            seed INTEGER,
            train_time_ms REAL,
            val_loss REAL,
            problem TEXT,
            created_at TEXT NOT NULL
        );
        CREATE INDEX agent_attempts_by_session ON agent_attempts (session_id, node);
        """,
    ];

    public static int SchemaVersion => Migrations.Length;

    readonly SqliteConnection _db;

    ResultsStore(SqliteConnection db) => _db = db;

    public string Path { get; private init; } = "";

    /// <summary>Opens (creating if needed) and migrates the store at <paramref name="path"/>.</summary>
    public static ResultsStore Open(string path)
    {
        var full = System.IO.Path.GetFullPath(path);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        var db = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = full, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = false, DefaultTimeout = 60,
        }.ToString());
        db.Open();
        Execute(db, "PRAGMA busy_timeout = 60000; PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;");
        var store = new ResultsStore(db) { Path = full };
        store.Migrate();
        store.CloseAbandonedRuns(DateTimeOffset.UtcNow);
        return store;
    }

    /// <summary>This process, as a runner: "host:pid".</summary>
    static string ThisRunner => $"{Environment.MachineName}:{Environment.ProcessId}";

    /// <summary>
    /// Stores <paramref name="run"/> as started (verdict 'running'), before its program is launched, so that
    /// every run leaves a row even if its runner is killed. <see cref="Finish"/> completes the row; a row whose
    /// runner process is gone, or that is still running after <paramref name="deadline"/>, becomes 'interrupted'
    /// the next time any runner opens the store.
    /// </summary>
    public long Start(RunRecord run, DateTimeOffset deadline)
    {
        // One statement: another runner opening the store must never see the row without its runner and deadline.
        return Insert(run with { Verdict = ProgramRunner.Running, Validations = [] }, ThisRunner, deadline);
    }

    /// <summary>Completes the row <see cref="Start"/> made: the run's verdict, numbers, log and validation points.</summary>
    public void Finish(long id, RunRecord run)
    {
        using var tx = _db.BeginTransaction(deferred: false);
        using var cmd = _db.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = """
            UPDATE runs SET verdict = $verdict, val_loss = $val_loss, train_time_ms = $train_time_ms, n_steps = $n_steps,
                step_avg_ms = $step_avg_ms, fingerprint = $fingerprint, device = $device, source_sha256 = $sha, source = $source,
                log = $log, results_json = $results, problems = $problems, out_dir = $out_dir, duration_s = $duration,
                track_sha256 = $track_sha, reference_sha256 = $reference_sha, runner = NULL, deadline = NULL,
                program_train_time_ms = $program_ms, program_val_loss = $program_loss, sandbox = $sandbox, conditions = $conditions, session = $session
            WHERE id = $id
            """;
        Bind(cmd, "$session", run.Session);
        Bind(cmd, "$conditions", run.Conditions);
        Bind(cmd, "$sandbox", run.Sandbox);
        Bind(cmd, "$program_ms", run.ProgramTrainTimeMs); Bind(cmd, "$program_loss", Finite(run.ProgramValLoss));
        Bind(cmd, "$track_sha", run.TrackSha256); Bind(cmd, "$reference_sha", run.ReferenceSha256);
        Bind(cmd, "$verdict", run.Verdict); Bind(cmd, "$val_loss", Finite(run.ValLoss)); Bind(cmd, "$train_time_ms", run.TrainTimeMs);
        Bind(cmd, "$n_steps", run.NSteps); Bind(cmd, "$step_avg_ms", run.StepAvgMs); Bind(cmd, "$fingerprint", run.Fingerprint);
        Bind(cmd, "$device", run.Device); Bind(cmd, "$sha", run.SourceSha256); Bind(cmd, "$source", run.Source);
        Bind(cmd, "$log", run.Log); Bind(cmd, "$results", run.ResultsJson); Bind(cmd, "$problems", run.Problems);
        Bind(cmd, "$out_dir", run.OutDir); Bind(cmd, "$duration", run.DurationSeconds); Bind(cmd, "$id", id);
        if (cmd.ExecuteNonQuery() != 1) throw new InvalidOperationException($"{Path}: run {id} is not in the store.");
        using (var clear = _db.CreateCommand())
        {
            clear.Transaction = tx;
            clear.CommandText = "DELETE FROM validations WHERE run_id = $id";
            Bind(clear, "$id", id);
            clear.ExecuteNonQuery();
        }
        AddValidations(tx, id, run.Validations);
        tx.Commit();
    }

    /// <summary>
    /// Ends as 'interrupted' every 'running' row whose runner cannot finish it: a process of this machine that
    /// no longer exists, or any runner past its deadline. Returns how many rows it closed.
    /// </summary>
    public int CloseAbandonedRuns(DateTimeOffset now)
    {
        var abandoned = new List<(long Id, string Why)>();
        using (var cmd = _db.CreateCommand())
        {
            cmd.CommandText = "SELECT id, runner, deadline FROM runs WHERE verdict = $running";
            Bind(cmd, "$running", ProgramRunner.Running);
            using var r = cmd.ExecuteReader();
            while (r.Read())
            {
                string? runner = Text(r, 1), deadlineText = Text(r, 2);
                var deadline = deadlineText is null ? (DateTimeOffset?)null
                    : DateTimeOffset.Parse(deadlineText, System.Globalization.CultureInfo.InvariantCulture);
                if (deadline is null || deadline < now)
                    abandoned.Add((r.GetInt64(0), $"its runner ({runner ?? "unknown"}) had not finished it by its deadline ({deadlineText ?? "none"})"));
                else if (runner is not null && IsGoneFromThisMachine(runner))
                    abandoned.Add((r.GetInt64(0), $"its runner ({runner}) stopped before the run finished (killed, or the machine restarted)"));
            }
        }
        foreach (var (id, why) in abandoned)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = """
                UPDATE runs SET verdict = $interrupted, problems = $why, runner = NULL, deadline = NULL
                WHERE id = $id AND verdict = $running
                """;
            Bind(cmd, "$interrupted", ProgramRunner.Interrupted); Bind(cmd, "$why", why);
            Bind(cmd, "$id", id); Bind(cmd, "$running", ProgramRunner.Running);
            cmd.ExecuteNonQuery();
        }
        return abandoned.Count;
    }

    /// <summary>Whether "host:pid" names this machine and a process that is not running.</summary>
    static bool IsGoneFromThisMachine(string runner)
    {
        int colon = runner.LastIndexOf(':');
        if (colon < 0 || runner[..colon] != Environment.MachineName ||
            !int.TryParse(runner[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture, out int pid))
            return false;
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return process.HasExited;
        }
        catch (ArgumentException)
        {
            return true; // no such process
        }
        catch (InvalidOperationException)
        {
            return true;
        }
    }

    void Migrate()
    {
        // BEGIN IMMEDIATE: two processes opening a fresh store must not both run the same migration.
        using var tx = _db.BeginTransaction(deferred: false);
        int version = Convert.ToInt32(Scalar("PRAGMA user_version", tx));
        if (version > Migrations.Length)
            throw new InvalidOperationException(
                $"{Path}: results store schema version {version} is newer than this speedrun understands ({Migrations.Length}); upgrade speedrun.");
        for (int v = version; v < Migrations.Length; v++)
        {
            using var cmd = _db.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = Migrations[v] + $"; PRAGMA user_version = {v + 1};";
            cmd.ExecuteNonQuery();
        }
        tx.Commit();
    }

    /// <summary>Adds a run and its validation points in one transaction; returns the row id.</summary>
    public long Add(RunRecord run) => Insert(run, null, null);

    long Insert(RunRecord run, string? runner, DateTimeOffset? deadline)
    {
        using var tx = _db.BeginTransaction(deferred: false);
        using var cmd = _db.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = """
            INSERT INTO runs (uid, kind, record, hints, agent, track, seed, verdict, val_loss, train_time_ms, n_steps,
                step_avg_ms, fingerprint, device, source_sha256, source, log, results_json, problems, out_dir, started_at, duration_s,
                runner, deadline, track_sha256, reference_sha256, program_train_time_ms, program_val_loss, sandbox, conditions, session)
            VALUES ($uid, $kind, $record, $hints, $agent, $track, $seed, $verdict, $val_loss, $train_time_ms, $n_steps,
                $step_avg_ms, $fingerprint, $device, $sha, $source, $log, $results, $problems, $out_dir, $started, $duration,
                $runner, $deadline, $track_sha, $reference_sha, $program_ms, $program_loss, $sandbox, $conditions, $session)
            RETURNING id;
            """;
        Bind(cmd, "$session", run.Session);
        Bind(cmd, "$conditions", run.Conditions);
        Bind(cmd, "$sandbox", run.Sandbox);
        Bind(cmd, "$program_ms", run.ProgramTrainTimeMs); Bind(cmd, "$program_loss", Finite(run.ProgramValLoss));
        Bind(cmd, "$track_sha", run.TrackSha256); Bind(cmd, "$reference_sha", run.ReferenceSha256);
        Bind(cmd, "$runner", runner); Bind(cmd, "$deadline", deadline?.UtcDateTime.ToString("O"));
        Bind(cmd, "$uid", run.Uid); Bind(cmd, "$kind", run.Kind); Bind(cmd, "$record", run.Record);
        Bind(cmd, "$hints", run.Hints); Bind(cmd, "$agent", run.Agent); Bind(cmd, "$track", run.Track);
        Bind(cmd, "$seed", run.Seed); Bind(cmd, "$verdict", run.Verdict); Bind(cmd, "$val_loss", Finite(run.ValLoss));
        Bind(cmd, "$train_time_ms", run.TrainTimeMs); Bind(cmd, "$n_steps", run.NSteps); Bind(cmd, "$step_avg_ms", run.StepAvgMs);
        Bind(cmd, "$fingerprint", run.Fingerprint); Bind(cmd, "$device", run.Device); Bind(cmd, "$sha", run.SourceSha256);
        Bind(cmd, "$source", run.Source); Bind(cmd, "$log", run.Log); Bind(cmd, "$results", run.ResultsJson);
        Bind(cmd, "$problems", run.Problems); Bind(cmd, "$out_dir", run.OutDir);
        Bind(cmd, "$started", run.StartedAt.ToString("O")); Bind(cmd, "$duration", run.DurationSeconds);
        long id = Convert.ToInt64(cmd.ExecuteScalar());
        AddValidations(tx, id, run.Validations);
        tx.Commit();
        return id;
    }

    void AddValidations(SqliteTransaction tx, long id, IReadOnlyList<ValPoint> validations)
    {
        foreach (var v in validations)
        {
            using var vc = _db.CreateCommand();
            vc.Transaction = tx;
            vc.CommandText = "INSERT INTO validations (run_id, step, val_loss, train_time_ms) VALUES ($id, $step, $loss, $ms)";
            Bind(vc, "$id", id); Bind(vc, "$step", v.Step); Bind(vc, "$loss", Finite(v.ValLoss)); Bind(vc, "$ms", v.TrainTimeMs);
            vc.ExecuteNonQuery();
        }
    }

    /// <summary>What <see cref="Import"/> did.</summary>
    public sealed record ImportResult(int Added, int AlreadyHere, int StillRunning, int Workspaces);

    /// <summary>
    /// Adds the runs (with their validation points) and workspaces of another store that this one lacks, matched by
    /// run uid and workspace id, so importing the same file twice adds nothing. Runs still 'running' there are left
    /// out: only the runner that started them can finish them. The other file is read from a copy and left as it is.
    /// </summary>
    public ImportResult Import(string otherPath)
    {
        var full = System.IO.Path.GetFullPath(otherPath);
        if (!File.Exists(full)) throw new FileNotFoundException($"{full}: no results store to import.", full);
        if (full == Path) throw new ArgumentException($"{full} is this store; import another one.");
        var copy = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"speedrun-import-{Guid.NewGuid():N}.db");
        File.Copy(full, copy);
        try
        {
            List<RunRecord> runs;
            List<WorkspaceRecord> workspaces;
            using (var other = Open(copy))
            {
                runs = other.Runs(withText: true).ToList();
                workspaces = other.Workspaces().ToList();
            }
            var uids = UidsHere();
            int added = 0, here = 0, running = 0;
            foreach (var run in runs)
            {
                if (run.Verdict == ProgramRunner.Running) running++;
                else if (uids.Contains(run.Uid)) here++;
                else
                {
                    Add(run);
                    added++;
                }
            }
            int newWorkspaces = 0;
            foreach (var w in workspaces.Where(w => FindWorkspace(w.Id) is null))
            {
                AddWorkspace(w);
                newWorkspaces++;
            }
            return new ImportResult(added, here, running, newWorkspaces);
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            foreach (var f in new[] { copy, copy + "-wal", copy + "-shm" }) File.Delete(f);
        }
    }

    HashSet<string> UidsHere()
    {
        using var cmd = _db.CreateCommand();
        cmd.CommandText = "SELECT uid FROM runs";
        using var r = cmd.ExecuteReader();
        var uids = new HashSet<string>(StringComparer.Ordinal);
        while (r.Read()) uids.Add(r.GetString(0));
        return uids;
    }

    /// <summary>Every workspace this store recorded, oldest first.</summary>
    public IReadOnlyList<WorkspaceRecord> Workspaces()
    {
        using var cmd = _db.CreateCommand();
        cmd.CommandText = "SELECT id, task, hints, start_train_sha256, dir, created_at FROM workspaces ORDER BY created_at, id";
        using var r = cmd.ExecuteReader();
        var list = new List<WorkspaceRecord>();
        while (r.Read()) list.Add(ReadWorkspace(r));
        return list;
    }

    /// <summary>Records a workspace that `speedrun task` made; its id is in the workspace's task.json.</summary>
    public void AddWorkspace(WorkspaceRecord workspace)
    {
        using var cmd = _db.CreateCommand();
        cmd.CommandText = """
            INSERT INTO workspaces (id, task, hints, start_train_sha256, dir, created_at)
            VALUES ($id, $task, $hints, $sha, $dir, $created)
            """;
        Bind(cmd, "$id", workspace.Id); Bind(cmd, "$task", workspace.Task); Bind(cmd, "$hints", workspace.Hints);
        Bind(cmd, "$sha", workspace.StartTrainSha256); Bind(cmd, "$dir", workspace.Dir);
        Bind(cmd, "$created", workspace.CreatedAt.UtcDateTime.ToString("O"));
        cmd.ExecuteNonQuery();
    }

    /// <summary>The workspace recorded under <paramref name="id"/>, or null when this store never saw it.</summary>
    public WorkspaceRecord? FindWorkspace(string id)
    {
        using var cmd = _db.CreateCommand();
        cmd.CommandText = "SELECT id, task, hints, start_train_sha256, dir, created_at FROM workspaces WHERE id = $id";
        Bind(cmd, "$id", id);
        using var r = cmd.ExecuteReader();
        return r.Read() ? ReadWorkspace(r) : null;
    }

    static WorkspaceRecord ReadWorkspace(SqliteDataReader r) =>
        new(r.GetString(0), r.GetInt32(1), r.GetString(2), r.GetString(3), r.GetString(4),
            DateTimeOffset.Parse(r.GetString(5), System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>Runs matching the filters (null = any), oldest first, with their validation points.</summary>
    public IReadOnlyList<RunRecord> Runs(string? kind = null, string? track = null, string? fingerprint = null, int? record = null,
        bool withText = false)
    {
        using var cmd = _db.CreateCommand();
        cmd.CommandText = $"""
            SELECT id, uid, kind, record, hints, agent, track, seed, verdict, val_loss, train_time_ms, n_steps, step_avg_ms,
                   fingerprint, device, source_sha256, {(withText ? "source, log, results_json" : "'', NULL, NULL")}, problems,
                   out_dir, started_at, duration_s, track_sha256, reference_sha256, program_train_time_ms, program_val_loss, sandbox, conditions, session
            FROM runs
            WHERE ($kind IS NULL OR kind = $kind) AND ($track IS NULL OR track = $track)
              AND ($fp IS NULL OR fingerprint = $fp) AND ($record IS NULL OR record = $record)
            ORDER BY id
            """;
        Bind(cmd, "$kind", kind); Bind(cmd, "$track", track); Bind(cmd, "$fp", fingerprint); Bind(cmd, "$record", record);
        var runs = new List<RunRecord>();
        using (var r = cmd.ExecuteReader())
            while (r.Read())
                runs.Add(new RunRecord
                {
                    Id = r.GetInt64(0), Uid = r.GetString(1), Kind = r.GetString(2), Record = r.GetInt32(3),
                    Hints = Text(r, 4), Agent = Text(r, 5), Track = r.GetString(6), Seed = r.GetInt32(7), Verdict = r.GetString(8),
                    ValLoss = Real(r, 9), TrainTimeMs = Real(r, 10), NSteps = r.IsDBNull(11) ? null : r.GetInt32(11),
                    StepAvgMs = Real(r, 12), Fingerprint = r.GetString(13), Device = Text(r, 14), SourceSha256 = r.GetString(15),
                    Source = r.GetString(16), Log = Text(r, 17), ResultsJson = Text(r, 18), Problems = Text(r, 19),
                    OutDir = Text(r, 20), StartedAt = DateTimeOffset.Parse(r.GetString(21), System.Globalization.CultureInfo.InvariantCulture),
                    DurationSeconds = r.GetDouble(22), TrackSha256 = Text(r, 23), ReferenceSha256 = Text(r, 24),
                    ProgramTrainTimeMs = Real(r, 25), ProgramValLoss = Real(r, 26), Sandbox = Text(r, 27), Conditions = Text(r, 28), Session = Text(r, 29),
                });
        return runs.Select(run => run with { Validations = ValidationsOf(run.Id) }).ToList();
    }

    IReadOnlyList<ValPoint> ValidationsOf(long runId)
    {
        using var cmd = _db.CreateCommand();
        cmd.CommandText = "SELECT step, val_loss, train_time_ms FROM validations WHERE run_id = $id ORDER BY step";
        Bind(cmd, "$id", runId);
        var points = new List<ValPoint>();
        using var r = cmd.ExecuteReader();
        while (r.Read()) points.Add(new ValPoint(r.GetInt32(0), r.IsDBNull(1) ? double.NaN : r.GetDouble(1), r.GetDouble(2)));
        return points;
    }

    public int Count() => Convert.ToInt32(Scalar("SELECT count(*) FROM runs", null));

    static double? Finite(double? v) => v is { } d && double.IsFinite(d) ? d : null;
    static string? Text(SqliteDataReader r, int i) => r.IsDBNull(i) ? null : r.GetString(i);
    static double? Real(SqliteDataReader r, int i) => r.IsDBNull(i) ? null : r.GetDouble(i);

    static void Bind(SqliteCommand cmd, string name, object? value) => cmd.Parameters.AddWithValue(name, value ?? DBNull.Value);

    object? Scalar(string sql, SqliteTransaction? tx)
    {
        using var cmd = _db.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        return cmd.ExecuteScalar();
    }

    static void Execute(SqliteConnection db, string sql)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    public void Dispose() => _db.Dispose();
}
