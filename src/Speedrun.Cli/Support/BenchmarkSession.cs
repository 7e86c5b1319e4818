using System.Diagnostics;
using System.Globalization;
using Speedrun.Cli.Commands;
using Speedrun.Benchmark.Catalog;
using Speedrun.Benchmark.Runs;
using Speedrun.Benchmark.Store;
using Speedrun.Benchmark.Tasks;
using Speedrun.Core.Training;

namespace Speedrun.Cli.Support;

/// <summary>The options `speedrun run` and `speedrun calibrate` share.</summary>
internal sealed record SessionOptions(string? Track, string? Device, double? TimeoutMinutes, string? Store, string? RunsDir);

/// <summary>
/// Timed, stored runs for `speedrun run` and `speedrun calibrate`: each run gets a new folder under runs/
/// (named by its uid, never reused), is compiled and run by <see cref="ProgramRunner"/> with progress on
/// stderr, is added to the results store with its source, log and results, and gets one line on stdout.
/// </summary>
internal sealed class BenchmarkSession : IDisposable
{
    readonly ResultsStore _store;
    readonly Lazy<string> _machineFingerprint;

    BenchmarkSession(BenchmarkCatalog catalog, Track track, string trackFile, DataPatterns data, string? device, TimeSpan? limit,
        ResultsStore store, string runsDir)
    {
        Catalog = catalog;
        Track = track;
        TrackFile = trackFile;
        Data = data;
        Device = device;
        Limit = limit;
        _store = store;
        RunsDir = runsDir;
        _machineFingerprint = new Lazy<string>(() => MachineFingerprint(device));
    }

    public BenchmarkCatalog Catalog { get; }
    public Track Track { get; }
    public string TrackFile { get; }
    public DataPatterns Data { get; }
    public string? Device { get; }
    public TimeSpan? Limit { get; }
    public string RunsDir { get; }
    public string StorePath => _store.Path;

    /// <summary>This invocation's id, stored with each of its runs.</summary>
    public string SessionId { get; } = $"{DateTime.UtcNow:yyyyMMddHHmmss}-{Guid.NewGuid().ToString("N")[..8]}";

    /// <summary>Loads the catalog, the track and its data, and opens the store; errors name what to fix.</summary>
    public static BenchmarkSession Open(SessionOptions options, string defaultTrack)
    {
        var catalog = BenchmarkCatalog.LoadDefault();
        var track = catalog.GetTrack(options.Track ?? defaultTrack);
        var trackFile = Path.Combine(catalog.TracksDirectory, track.Name + ".json");
        var device = options.Device ?? track.DefaultDevice;
        Kernels.Runtime.DeviceKinds.Parse(device); // a bad --device fails here, naming the allowed values
        var data = TrackData.Resolve(track, Console.Error);
        var runsDir = Path.GetFullPath(options.RunsDir ?? Path.Combine(catalog.Root, "runs"));
        var store = ResultsStore.Open(StoreLocation.Resolve(options.Store, catalog.Root));
        return new BenchmarkSession(catalog, track, trackFile, data, device,
            options.TimeoutMinutes is { } m ? TimeSpan.FromMinutes(m) : null, store, runsDir);
    }

    /// <summary>How long after its start a run's row may stay 'running' beyond the run's own time limit (compiling,
    /// checking the data, measuring the device) before another runner may close it as interrupted.</summary>
    static readonly TimeSpan DeadlineMargin = TimeSpan.FromMinutes(15);

    /// <summary>Runs <paramref name="programPath"/> once and stores it: the row is written as 'running' before the
    /// program starts and completed when it ends. Null when the user interrupted the run (stored as 'interrupted';
    /// its folder stays). <paramref name="onStarted"/> gets the row's id once it is stored, before the program starts.</summary>
    public RunRecord? Run(string programPath, RunLabel label, int seed, string folderLabel, CancellationToken cancel, Action<long>? onStarted = null)
    {
        var (uid, outDir) = NewRunFolder(folderLabel, seed);
        var what = label.Kind == RunLabel.Calibration
            ? $"record {label.Record} (calibration)"
            : $"task {label.Record}, hints {label.Hints}{(label.Agent is null ? "" : $", agent {label.Agent}")}";
        Console.Error.WriteLine($"== {what}, seed {seed}, track {Track.Name}: {outDir}");

        var started = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();
        var sourceBytes = File.ReadAllBytes(programPath);
        // What this time may be compared with: the track file, and for an agent run the two records' programs.
        var (trackSha, referenceSha) = (Sha256(TrackFile), label.Kind == RunLabel.AgentKind ? ReferenceSha256(label.Record) : null);
        var startRow = new RunRecord
        {
            Uid = uid, Kind = label.Kind, Record = label.Record, Hints = label.Hints, Agent = label.Agent, Track = Track.Name,
            Seed = seed, Verdict = ProgramRunner.Running, Fingerprint = _machineFingerprint.Value, Device = Device ?? "auto",
            SourceSha256 = TaskManifest.Sha256Hex(sourceBytes), Source = System.Text.Encoding.UTF8.GetString(sourceBytes),
            OutDir = outDir, StartedAt = started, TrackSha256 = trackSha, ReferenceSha256 = referenceSha, Session = SessionId,
        };
        // The run's limit: --timeout, else the track's for this record (some tracks scale it by the record's official time).
        var official = Catalog.Records.FirstOrDefault(r => r.Number == label.Record)?.OfficialTimeMinutes;
        var limit = Limit ?? TimeSpan.FromMinutes(Track.TimeLimitFor(official));
        long id = _store.Start(startRow, started + limit + DeadlineMargin);
        onStarted?.Invoke(id);

        var progress = new ProgressLine(Console.IsErrorRedirected, Console.Error);
        ProgramRunOutcome outcome;
        try
        {
            outcome = ProgramRunner.Run(
                new ProgramRunRequest(programPath, Track, TrackFile, Data, Device, seed, outDir, limit, _machineFingerprint.Value),
                ExecCommand.SelfHosts(), progress.OnLine, progress.OnError, cancel);
        }
        catch (Exception e)
        {
            // The harness failed, not the program: the row says so rather than staying 'running'.
            _store.Finish(id, startRow with
            {
                Verdict = ProgramRunner.Interrupted, Problems = $"the runner failed: {e.Message}", DurationSeconds = clock.Elapsed.TotalSeconds,
            });
            throw;
        }
        progress.Done();
        var record = RunRecords.FromOutcome(uid, label, Track.Name, seed, Device, outcome, () => _machineFingerprint.Value,
            started, clock.Elapsed) with { Id = id, TrackSha256 = trackSha, ReferenceSha256 = referenceSha, Session = SessionId };
        if (cancel.IsCancellationRequested)
        {
            record = record with
            {
                Verdict = ProgramRunner.Interrupted,
                Problems = string.Join("\n", new[] { "stopped by the user" }.Concat(outcome.Problems)),
            };
            _store.Finish(id, record);
            Console.Error.WriteLine($"interrupted: the run was stopped and stored as '{ProgramRunner.Interrupted}'; its files stay in {outDir}");
            return null;
        }
        foreach (var e in outcome.Compile.Errors) Console.Error.WriteLine(e);

        _store.Finish(id, record);
        Console.WriteLine(ResultLine(record));
        foreach (var p in outcome.Problems) Console.Error.WriteLine($"  - {p}");
        return record;
    }

    /// <summary>
    /// Stores an agent run that never ran: the agent's session ended without any program (verdict
    /// <paramref name="verdict"/>, no folder, no time, <paramref name="why"/> as its problem). Like a program that fails,
    /// it scores 0 and its task's cell counts it, on this machine's fingerprint and the same track and record versions a
    /// timed run would have recorded.
    /// </summary>
    public RunRecord RecordUnrun(RunLabel label, int seed, string folderLabel, string verdict, string why)
    {
        var started = DateTimeOffset.UtcNow;
        var row = new RunRecord
        {
            Uid = $"{started:yyyyMMdd-HHmmss}-{folderLabel}-{Track.Name}-s{seed}-{Guid.NewGuid().ToString("N")[..8]}",
            Kind = label.Kind, Record = label.Record, Hints = label.Hints, Agent = label.Agent, Track = Track.Name, Seed = seed,
            Verdict = verdict, Fingerprint = _machineFingerprint.Value, Device = Device ?? "auto", SourceSha256 = TaskManifest.Sha256Hex([]),
            Source = "", Problems = why, StartedAt = started, TrackSha256 = Sha256(TrackFile),
            ReferenceSha256 = label.Kind == RunLabel.AgentKind ? ReferenceSha256(label.Record) : null, Session = SessionId,
        };
        var stored = row with { Id = _store.Add(row) };
        Console.WriteLine(ResultLine(stored));
        return stored;
    }

    /// <summary>
    /// The label of an agent run of the workspace in <paramref name="dir"/>: its task and hints as this store recorded
    /// them when `speedrun task` made it, never as its task.json (which the agent can edit) says now.
    /// </summary>
    public RunLabel AgentLabel(TaskManifest manifest, string dir, string? agent)
    {
        var path = Path.Combine(dir, TaskManifest.FileName);
        var workspace = _store.FindWorkspace(manifest.WorkspaceId)
            ?? throw new UserError($"{path}: workspace '{manifest.WorkspaceId}' is not recorded in the results store {_store.Path}, so " +
                                   "its task and hints cannot be confirmed. Make workspaces with `speedrun task N --hints H --out DIR` " +
                                   "against the store the runs go to (--store or SPEEDRUN_STORE).");
        if (workspace.Task != manifest.Task || workspace.Hints != manifest.HintSelection)
            Console.Error.WriteLine($"warning: {path} says task {manifest.Task} with hints {manifest.HintSelection}, but the store recorded " +
                                    $"task {workspace.Task} with hints {workspace.Hints} when the workspace was made; the runs are labelled " +
                                    "as the store says.");
        return RunLabel.AgentRun(workspace.Task, workspace.Hints, agent);
    }

    static string Sha256(string path) => TaskManifest.Sha256Hex(File.ReadAllBytes(path));

    /// <summary>"shaN,shaN+1": the programs of task <paramref name="task"/>'s two records as the catalog holds them now.</summary>
    string ReferenceSha256(int task)
    {
        string Of(int number) =>
            Catalog.Records.FirstOrDefault(r => r.Number == number) is { } record && File.Exists(record.TrainPath)
                ? Sha256(record.TrainPath)
                : throw new UserError($"Task {task} needs records {task} and {task + 1} with programs, but record {number} has none in {Catalog.Root}.");
        return $"{Of(task)},{Of(task + 1)}";
    }

    /// <summary>A finished calibration of this record's current program with this seed, on this track file and this
    /// machine's fingerprint, if the store has one (runs still going, interrupted or stopped by bad data do not count).</summary>
    public RunRecord? FindCalibration(int record, int seed, string programPath)
    {
        var program = Sha256(programPath);
        var track = Sha256(TrackFile);
        return _store.Runs(kind: RunLabel.Calibration, track: Track.Name, fingerprint: _machineFingerprint.Value, record: record)
            .LastOrDefault(r => r.Seed == seed && r.SourceSha256 == program && r.TrackSha256 == track && ProgramRunner.IsScored(r.Verdict));
    }

    /// <summary>How long a run of this record took here before (the median of its stored runs on this machine and
    /// track, compile and evaluation included), or null when it never ran here.</summary>
    public TimeSpan? TypicalDuration(int record)
    {
        var seconds = _store.Runs(kind: RunLabel.Calibration, track: Track.Name, fingerprint: _machineFingerprint.Value, record: record)
            .Where(r => ProgramRunner.IsScored(r.Verdict)).Select(r => r.DurationSeconds).ToList();
        return seconds.Count == 0 ? null : TimeSpan.FromSeconds(Benchmark.Scoring.Statistics.Median(seconds));
    }

    /// <summary>verdict, val_loss, train_time, seed and the run folder, in fixed columns.</summary>
    public static string ResultLine(RunRecord r)
    {
        var inv = CultureInfo.InvariantCulture;
        var loss = r.ValLoss is { } l && double.IsFinite(l) ? l.ToString("F4", inv) : "-";
        var time = r.TrainTimeMs is { } t ? (t / 1000).ToString("F2", inv) + " s" : "-";
        var unsandboxed = r.Sandbox == Benchmark.Runs.Sandbox.None ? " (unsandboxed)" : "";
        return $"{r.Verdict,-13} val_loss {loss,-8} train_time {time,-10} seed {r.Seed,-3} {r.OutDir}{unsandboxed}";
    }

    /// <summary>A new folder runs/&lt;uid&gt;; the uid (time, label, seed, random suffix) is never reused.</summary>
    (string Uid, string Dir) NewRunFolder(string label, int seed)
    {
        Directory.CreateDirectory(RunsDir);
        while (true)
        {
            var uid = $"{DateTime.UtcNow:yyyyMMdd-HHmmss}-{label}-{Track.Name}-s{seed}-{Guid.NewGuid().ToString("N")[..8]}";
            var dir = Path.Combine(RunsDir, uid);
            if (Directory.Exists(dir) || File.Exists(dir)) continue;
            Directory.CreateDirectory(dir);
            return (uid, dir);
        }
    }

    /// <summary>The fingerprint a program on this device would report, for runs that wrote no results.json.</summary>
    static string MachineFingerprint(string? device)
    {
        try
        {
            using var d = Kernels.Runtime.Device.Create(Kernels.Runtime.DeviceKinds.Parse(device));
            return HardwareFingerprint.Of(d);
        }
        catch (Exception e) when (e is InvalidOperationException or DllNotFoundException or IOException)
        {
            return $"unknown ({device ?? "auto"} device unavailable: {e.Message})";
        }
    }

    public void Dispose() => _store.Dispose();
}
