using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Speedrun.Benchmark.Agents;
using Speedrun.Benchmark.Catalog;
using Speedrun.Benchmark.Reports;
using Speedrun.Benchmark.Scoring;
using Speedrun.Benchmark.Store;
using Speedrun.Benchmark.Tasks;
using Speedrun.Cli.Support;

namespace Speedrun.Cli.Commands;

/// <summary>
/// `speedrun agent --task N --hints H --model M [--endpoint URL] --scaffold flat|bon|aide [--steps S] [--runs R]
/// [--minutes X] [--seeds K] [--track T] ...`: a chat model works on task N through one of the reference scaffolds.
/// Every attempt is timed as `speedrun run` times it and stored (search runs labelled "M@scaffold:search"); the best
/// node is then run with K seeds under the label "M@scaffold", which is what `speedrun score` scores. Every model call
/// and attempt goes to the store and to runs/agent-.../transcript.md. The API key is read from an environment variable,
/// removed from this process's environment before any program runs, and scrubbed from anything recorded.
/// `speedrun agent --resume SESSION` (an id or the session folder) goes on with a session that was killed or interrupted,
/// from what the store holds (<see cref="AgentResume"/>); a lock file in the session folder keeps two processes from
/// driving one session.
/// </summary>
internal static class AgentCommand
{
    public const string SearchSuffix = Scaffolds.SearchSuffix;
    /// <summary>In the session folder: the session's id and store, so that `--resume FOLDER` finds both.</summary>
    public const string SessionFileName = "session.json";
    /// <summary>In the session folder: held exclusively while a process drives the session.</summary>
    public const string LockFileName = "session.lock";

    public static Command Create()
    {
        var task = new Option<int>("--task") { Description = "Task number = its start record (see `speedrun records`); required unless --resume" };
        var hints = new Option<string>("--hints") { Description = "none, or hint levels such as 1 or 1,2 or 1,2,3", DefaultValueFactory = _ => "none" };
        var model = new Option<string>("--model") { Description = "The model's name as the endpoint knows it; required unless --resume" };
        var endpoint = new Option<string?>("--endpoint") { Description = "Base URL of an OpenAI-compatible API, e.g. http://127.0.0.1:8000/v1 (default: OpenAI's)" };
        var keyEnv = new Option<string>("--api-key-env") { Description = "The environment variable holding the API key", DefaultValueFactory = _ => "OPENAI_API_KEY" };
        var scaffold = new Option<string>("--scaffold") { Description = "flat (one prompt, one program), bon (best of N drafts) or aide (draft/debug/improve tree)", DefaultValueFactory = _ => Scaffolds.Aide };
        scaffold.AcceptOnlyFromAmong([.. Scaffolds.All]);
        var steps = new Option<int?>("--steps") { Description = "Model turns for the search (default: 1 for flat, 20 otherwise; retries do not count)" };
        var runs = new Option<int?>("--runs") { Description = "Timed runs for the search (default: as many as steps; the final runs do not count)" };
        var minutes = new Option<double>("--minutes") { Description = "Wall-clock minutes for the search (checked before each turn)", DefaultValueFactory = _ => 600 };
        var seeds = new Option<int>("--seeds") { Description = "Seeds the best program is finally run with", DefaultValueFactory = _ => 3 };
        var drafts = new Option<int>("--drafts") { Description = "aide: drafts before improving the best node", DefaultValueFactory = _ => 2 };
        var depth = new Option<int>("--max-debug-depth") { Description = "aide: debug nodes in a row before giving up on a branch", DefaultValueFactory = _ => 3 };
        var retries = new Option<int>("--retries") { Description = "Retries of a model call after a rate limit (429), server error or timeout", DefaultValueFactory = _ => 4 };
        var backoff = new Option<double>("--backoff") { Description = "Seconds before the first retry (doubling, at most 60; a Retry-After header wins)", DefaultValueFactory = _ => 2 };
        var requestTimeout = new Option<double>("--request-timeout") { Description = "Seconds a model call may take", DefaultValueFactory = _ => 600 };
        var track = new Option<string?>("--track") { Description = "Track: tiny (CPU, the default), mini or full (GPU), ..." };
        var timeout = new Option<double?>("--timeout") { Description = "Wall-clock limit per run in minutes (default: the track's)" };
        var store = new Option<string?>("--store") { Description = $"Results store (default: ${StoreLocation.Variable} or results/speedrun.db in the repository)" };
        var device = new Option<string?>("--device") { Description = "cpu, cuda or auto (default: cpu on a CPU track, else auto)" };
        var runsDir = new Option<string?>("--runs-dir") { Description = "Folder for the run folders and the agent session folder (default: runs/ in the repository)" };
        var resume = new Option<string?>("--resume")
        {
            Description = "Go on with a stopped session (killed or interrupted): its id or its folder. It keeps its own task, model, " +
                          "scaffold, budgets and seeds; --endpoint, --api-key-env, --retries, --backoff, --request-timeout and --store may be given",
        };
        var command = new Command("agent", "Let a chat model attempt task N through a scaffold (flat, bon, aide); time, store and score every attempt.")
        {
            task, hints, model, endpoint, keyEnv, scaffold, steps, runs, minutes, seeds, drafts, depth, retries, backoff, requestTimeout,
            track, timeout, store, device, runsDir, resume,
        };
        command.SetAction((parse, cancel) => Task.FromResult(UserErrors.Guard(() =>
        {
            bool Given(Option o) => parse.GetResult(o) is { Implicit: false };
            if (parse.GetValue(resume) is { } target)
            {
                var fixedOptions = new Option[] { task, hints, model, scaffold, steps, runs, minutes, seeds, drafts, depth, track, timeout, device, runsDir }
                    .Where(Given).Select(o => o.Name).ToList();
                if (fixedOptions.Count > 0)
                    throw new UserError($"--resume goes on with the session's own settings, as stored; leave out {string.Join(", ", fixedOptions)} " +
                                        "(only --endpoint, --api-key-env, --retries, --backoff, --request-timeout and --store may be given).");
                var overrides = new ResumeOverrides(parse.GetValue(endpoint), Given(keyEnv) ? parse.GetValue(keyEnv) : null,
                    Given(retries) ? parse.GetValue(retries) : null, Given(backoff) ? parse.GetValue(backoff) : null,
                    Given(requestTimeout) ? parse.GetValue(requestTimeout) : null, parse.GetValue(store));
                return Resume(target, overrides, cancel);
            }
            var missing = new Option[] { task, model }.Where(o => !Given(o)).Select(o => o.Name).ToList();
            if (missing.Count > 0)
                throw new UserError($"{string.Join(" and ", missing)} {(missing.Count == 1 ? "is" : "are")} required " +
                                    "(or --resume SESSION to go on with a stopped session).");
            var scaffoldName = parse.GetValue(scaffold)!;
            int stepCount = parse.GetValue(steps) ?? (scaffoldName == Scaffolds.Flat ? 1 : 20);
            var settings = new Settings(parse.GetValue(task), parse.GetValue(hints)!, parse.GetValue(model)!, parse.GetValue(endpoint),
                parse.GetValue(keyEnv)!, scaffoldName,
                new AgentBudget(stepCount, parse.GetValue(runs) ?? stepCount, parse.GetValue(minutes), parse.GetValue(drafts), parse.GetValue(depth)),
                parse.GetValue(seeds),
                new CallPolicy(parse.GetValue(retries), TimeSpan.FromSeconds(parse.GetValue(backoff)), TimeSpan.FromSeconds(parse.GetValue(requestTimeout))),
                new SessionOptions(parse.GetValue(track), parse.GetValue(device), parse.GetValue(timeout), parse.GetValue(store), parse.GetValue(runsDir)));
            return Run(settings, cancel);
        })));
        return command;
    }

    sealed record Settings(int Task, string Hints, string Model, string? Endpoint, string KeyVariable, string Scaffold, AgentBudget Budget,
        int Seeds, CallPolicy Policy, SessionOptions Session);

    sealed record ResumeOverrides(string? Endpoint, string? KeyVariable, int? Retries, double? Backoff, double? RequestTimeout, string? Store);

    /// <summary>What a session needs once it exists: new or resumed, it is driven the same way.</summary>
    sealed record Drive(BenchmarkSession Session, ResultsStore Store, AgentSessionRecord Record, RunLabel Label, AgentJournal Journal,
        TaskMaterial Task, AgentBudget Budget, int Seeds, CallPolicy Policy, Uri? Endpoint, string Key, Func<string, string> Redact);

    /// <summary>The API key: read once, then gone from the environment, so no program this process starts can see it.</summary>
    static (string Key, Func<string, string> Redact) TakeKey(string variable, Uri? endpoint)
    {
        var key = Environment.GetEnvironmentVariable(variable) ?? "";
        Environment.SetEnvironmentVariable(variable, null);
        if (key.Length == 0 && endpoint is null)
            throw new UserError($"${variable} is not set: export the API key there (or name another variable with --api-key-env), " +
                                "or give --endpoint for a local server that needs none.");
        return (key, text => key.Length >= 4 ? text.Replace(key, "[redacted]", StringComparison.Ordinal) : text);
    }

    static int Run(Settings s, CancellationToken cancel)
    {
        Check(s);
        if (!HintSelection.TryParse(s.Hints, out var hints, out var hintError)) throw new UserError($"--hints: {hintError}");
        var endpoint = ModelEndpoint.Parse(s.Endpoint);
        var (key, redact) = TakeKey(s.KeyVariable, endpoint);

        var catalog = BenchmarkCatalog.LoadDefault();
        catalog.GetTask(s.Task); // an unknown task fails here, before the data or the store is touched
        using var session = BenchmarkSession.Open(s.Session, defaultTrack: "tiny");
        var agent = $"{s.Model}@{s.Scaffold}";
        var sessionId = $"{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Guid.NewGuid().ToString("N")[..8]}";
        var dir = Path.Combine(session.RunsDir, $"agent-{sessionId}-task{s.Task:D2}-{Safe(s.Model)}-{s.Scaffold}");
        Directory.CreateDirectory(dir);
        using var held = HoldSession(dir, sessionId);
        var workspace = Path.Combine(dir, "workspace");
        var manifest = TaskWorkspace.Write(catalog, s.Task, hints, workspace);
        using var store = ResultsStore.Open(session.StorePath);
        store.AddWorkspace(WorkspaceRecord.Of(manifest, workspace));
        var label = session.AgentLabel(manifest, workspace, agent);
        var settingsJson = JsonSerializer.Serialize(new
        {
            steps = s.Budget.Steps, runs = s.Budget.Runs, minutes = s.Budget.Minutes, seeds = s.Seeds, drafts = s.Budget.Drafts,
            max_debug_depth = s.Budget.MaxDebugDepth, retries = s.Policy.Retries, backoff_s = s.Policy.Backoff.TotalSeconds,
            request_timeout_s = s.Policy.RequestTimeout.TotalSeconds, api_key_env = s.KeyVariable, device = s.Session.Device,
            run_timeout_min = s.Session.TimeoutMinutes,
        });
        var record = new AgentSessionRecord
        {
            Id = sessionId, Task = s.Task, Hints = label.Hints!, Model = s.Model, Endpoint = ModelEndpoint.Describe(endpoint), Scaffold = s.Scaffold,
            Agent = agent, Track = session.Track.Name, Settings = settingsJson, WorkspaceId = manifest.WorkspaceId, Dir = dir, StartedAt = DateTimeOffset.UtcNow,
        };
        store.AddAgentSession(record);
        File.WriteAllText(Path.Combine(dir, SessionFileName), JsonSerializer.Serialize(new SessionFile(sessionId, session.StorePath), SessionFileJson));
        var journal = new AgentJournal(store, Path.Combine(dir, AgentJournal.TranscriptFileName), redact);
        journal.Note($"# Agent session {sessionId}\n\n" +
                     $"- task {s.Task} (record {manifest.StartRecord.Number} to {manifest.NextRecord}), hints {label.Hints}, track {session.Track.Name}\n" +
                     $"- model `{s.Model}` at {ModelEndpoint.Describe(endpoint)}, scaffold {s.Scaffold}, agent label `{agent}` (search runs `{agent}{SearchSuffix}`)\n" +
                     $"- budgets and settings: `{settingsJson}`\n- store {session.StorePath}, workspace {workspace}\n" +
                     $"- if this session stops before it ends: `speedrun agent --resume {sessionId}` goes on from what is stored.");
        Console.Error.WriteLine($"speedrun agent: {agent} on task {s.Task}, hints {label.Hints}, track '{session.Track.Name}'; session {dir}");
        return DriveSession(new Drive(session, store, record, label, journal, TaskMaterial.Read(workspace, manifest), s.Budget, s.Seeds, s.Policy,
            endpoint, key, redact), progress: null, cancel);
    }

    sealed record SessionFile(string Session, string Store);

    static readonly JsonSerializerOptions SessionFileJson = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true };

    /// <summary>
    /// Holds the session folder's lock file for as long as this process drives the session: another `--resume` of it
    /// fails while this one lives, and the lock goes when the process does, however it ends.
    /// </summary>
    static FileStream HoldSession(string dir, string sessionId)
    {
        var path = Path.Combine(dir, LockFileName);
        try
        {
            var stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            stream.SetLength(0);
            var pid = System.Text.Encoding.UTF8.GetBytes($"{Environment.MachineName}:{Environment.ProcessId}\n");
            stream.Write(pid);
            stream.Flush();
            return stream;
        }
        catch (IOException)
        {
            string holder = "";
            try { holder = File.ReadAllText(path).Trim(); } catch (IOException) { }
            throw new UserError($"agent session {sessionId} is being driven by another process{(holder.Length > 0 ? $" ({holder})" : "")}; " +
                                "wait for it to end or stop it, then resume.");
        }
    }

    /// <summary>`speedrun agent --resume SESSION`: rebuilds the stopped session from the store and goes on to its budgets
    /// and final runs (<see cref="AgentResume"/>).</summary>
    static int Resume(string target, ResumeOverrides o, CancellationToken cancel)
    {
        var (sessionId, storePath) = Locate(target, o.Store);
        AgentSessionRecord record;
        using (var peek = ResultsStore.Open(storePath))
            record = peek.AgentSession(sessionId)
                ?? throw new UserError($"No agent session '{sessionId}' in {storePath}; `--resume` takes a session id or folder (runs/agent-...).");
        if (record.Status is "finished" or "no_program")
            throw new UserError($"agent session {sessionId} already ended ({record.Status}: {record.StopReason}); there is nothing to resume. " +
                                "Start a new session for more attempts.");
        if (!Directory.Exists(record.Dir))
            throw new UserError($"agent session {sessionId}'s folder {record.Dir} is gone; it cannot be resumed without its workspace.");
        using var held = HoldSession(record.Dir, sessionId);
        using var settings = JsonDocument.Parse(record.Settings);
        var js = settings.RootElement;
        double Number(string name) => js.GetProperty(name).GetDouble();
        string? TextOf(string name) => js.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
        var budget = new AgentBudget((int)Number("steps"), (int)Number("runs"), Number("minutes"), (int)Number("drafts"), (int)Number("max_debug_depth"));
        var policy = new CallPolicy(o.Retries ?? (int)Number("retries"), TimeSpan.FromSeconds(o.Backoff ?? Number("backoff_s")),
            TimeSpan.FromSeconds(o.RequestTimeout ?? Number("request_timeout_s")));
        if (policy.Retries is < 0 or > 20) throw new UserError($"--retries is {policy.Retries}; give 0 to 20.");
        if (policy.Backoff < TimeSpan.Zero) throw new UserError("--backoff must be 0 or more seconds.");
        if (policy.RequestTimeout <= TimeSpan.Zero) throw new UserError("--request-timeout must be more than 0 seconds.");
        double? runTimeout = js.TryGetProperty("run_timeout_min", out var rt) && rt.ValueKind == JsonValueKind.Number ? rt.GetDouble() : null;
        var endpoint = ModelEndpoint.Parse(o.Endpoint ?? (record.Endpoint == "default" ? null : record.Endpoint));
        var (key, redact) = TakeKey(o.KeyVariable ?? TextOf("api_key_env") ?? "OPENAI_API_KEY", endpoint);

        using var session = BenchmarkSession.Open(
            new SessionOptions(record.Track, TextOf("device"), runTimeout, storePath, Path.GetDirectoryName(record.Dir)), defaultTrack: record.Track);
        using var store = ResultsStore.Open(session.StorePath); // opening it closes the runs rows a killed session left 'running'
        var workspace = Path.Combine(record.Dir, "workspace");
        var manifest = TaskManifest.Load(workspace);
        var label = session.AgentLabel(manifest, workspace, record.Agent);
        var material = TaskMaterial.Read(workspace, manifest);
        var runRows = store.Runs(kind: RunLabel.AgentKind, track: record.Track, record: record.Task, withText: true).ToDictionary(r => r.Id);
        var progress = AgentResume.Rebuild(material.StartProgram, store.ModelCalls(sessionId), store.AgentAttempts(sessionId),
            id => runRows.GetValueOrDefault(id), LastWrite);
        store.ReopenAgentSession(sessionId);
        var journal = new AgentJournal(store, Path.Combine(record.Dir, AgentJournal.TranscriptFileName), redact);
        var inv = CultureInfo.InvariantCulture;
        var was = record.Status switch
        {
            "running" => "its process had died (killed, or the machine stopped)",
            "interrupted" => "it had been interrupted",
            _ => $"it had stopped as '{record.Status}'{(record.StopReason is { } why ? $": {why}" : "")}",
        };
        journal.Note($"## Resumed {DateTimeOffset.UtcNow.ToString("yyyy-MM-dd HH:mm:ss", inv)} UTC ({was})\n\n" +
                     string.Create(inv, $"- spent before: {progress.Steps} of {budget.Steps} model turns, {progress.Runs} of {budget.Runs} timed runs, ") +
                     string.Create(inv, $"{progress.SearchTime.TotalMinutes:F2} of {budget.Minutes:0.##} minutes of search") + "\n" +
                     (progress.Nodes.Count == 0 ? "" : $"- nodes: {string.Join(", ", progress.Nodes.Select(n => $"{n.Id} {n.Stage} {n.Verdict}"))}\n") +
                     (progress.Pending is { } p
                         ? $"- node {p.Node} ({p.Stage}) had {p.TriesBefore} model call(s) recorded{(p.Answer is null ? ", none answered: it is asked again" : ", with a reply: it is used")}\n"
                         : "") +
                     (progress.Finals.Count == 0 ? "" : $"- final runs stored: {string.Join(", ", progress.Finals.Select(f => $"seed {f.Seed} {f.Verdict}"))}\n") +
                     (ModelEndpoint.Describe(endpoint) != record.Endpoint ? $"- the model is now reached at {ModelEndpoint.Describe(endpoint)}\n" : ""));
        foreach (var a in progress.Repaired)
        {
            store.UpdateAgentAttempt(a);
            journal.Note(a.Stage == AgentLoop.FinalStage
                ? $"Final run, seed {a.Seed}: **{a.Verdict}** (run {a.RunId?.ToString(inv) ?? "none"}; it was running when the session stopped).\n\n```\n{a.Problem}\n```"
                : AgentLoop.NodeLine(progress.Nodes[a.Node - 1], a.ReplyFormat) + "\n\n(It was running when the session stopped.)");
        }
        Console.Error.WriteLine($"speedrun agent: resuming session {sessionId} ({record.Agent} on task {record.Task}, hints {record.Hints}): " +
                                $"{progress.Steps} node(s), {progress.Runs} run(s), {progress.Finals.Count} final run(s) stored; {record.Dir}");
        return DriveSession(new Drive(session, store, record, label, journal, material, budget, (int)Number("seeds"), policy, endpoint, key, redact),
            progress, cancel);
    }

    /// <summary>The session id and store of `--resume TARGET`: a session folder (its session.json, else the store's
    /// session with that folder), or an id in the store --store or the default names.</summary>
    static (string Id, string Store) Locate(string target, string? storeOption)
    {
        if (Directory.Exists(target))
        {
            var dir = Path.GetFullPath(target).TrimEnd(Path.DirectorySeparatorChar);
            var file = Path.Combine(dir, SessionFileName);
            if (File.Exists(file))
            {
                var saved = JsonSerializer.Deserialize<SessionFile>(File.ReadAllText(file), SessionFileJson)
                    ?? throw new InvalidDataException($"{file} is empty.");
                return (saved.Session, storeOption is null ? saved.Store : StoreLocation.ResolveExisting(storeOption));
            }
            var path = StoreLocation.ResolveExisting(storeOption);
            using var store = ResultsStore.Open(path);
            var match = store.AgentSessions().FirstOrDefault(s => Path.GetFullPath(s.Dir).TrimEnd(Path.DirectorySeparatorChar) == dir)
                ?? throw new UserError($"{dir} is not the folder of an agent session in {path}; give the session's id or folder (runs/agent-...).");
            return (match.Id, path);
        }
        return (target, StoreLocation.ResolveExisting(storeOption));
    }

    /// <summary>The newest write time of the files in a run folder (how long a killed run went on), or null.</summary>
    static DateTimeOffset? LastWrite(string dir)
    {
        if (!Directory.Exists(dir)) return null;
        var times = Directory.EnumerateFiles(dir).Select(f => (DateTimeOffset?)new DateTimeOffset(File.GetLastWriteTimeUtc(f), TimeSpan.Zero)).ToList();
        return times.Count == 0 ? null : times.Max();
    }

    static int DriveSession(Drive d, SessionProgress? progress, CancellationToken cancel)
    {
        var (store, journal, sessionId) = (d.Store, d.Journal, d.Record.Id);
        using var chat = ModelEndpoint.Create(d.Record.Model, d.Endpoint, d.Key, d.Policy.RequestTimeout);
        var caller = new ModelCaller(chat, d.Policy, journal.AddCall, d.Redact);
        var runner = new SessionRunner(d.Session, store, d.Label, d.Record.Dir, d.Record.Task);
        var loop = new AgentLoop(d.Record.Scaffold, d.Budget, d.Task, caller, runner, journal, sessionId, progress);
        AgentOutcome outcome;
        try
        {
            outcome = loop.Run(d.Seeds, firstSeed: 0, cancel);
        }
        catch (OperationCanceledException)
        {
            store.FinishAgentSession(sessionId, "interrupted", null, "stopped by the user");
            journal.Note($"Session interrupted by the user; `speedrun agent --resume {sessionId}` goes on from here.");
            return 130;
        }
        catch (Exception e)
        {
            store.FinishAgentSession(sessionId, "failed", null, d.Redact(e.Message));
            journal.Note($"Session failed: {d.Redact(e.Message)}");
            throw;
        }
        var status = outcome.Interrupted ? "interrupted" : outcome.Best?.Source is null ? "no_program" : "finished";
        store.FinishAgentSession(sessionId, status, outcome.Best?.Id, outcome.StopReason);
        if (outcome.Interrupted) journal.Note($"Session interrupted; `speedrun agent --resume {sessionId}` goes on from here.");

        Console.WriteLine($"agent session {sessionId}: {outcome.Nodes.Count} nodes ({Count(outcome.Nodes)}), stopped: {outcome.StopReason}");
        if (outcome.Best is { } best)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"best node {best.Id} ({best.Stage}): {best.Verdict}{(best.TrainTimeMs is { } t ? $", {t / 1000:F2} s" : "")}; " +
                $"final runs: {(outcome.FinalRuns.Count == 0 ? "none" : string.Join(", ", outcome.FinalRuns.Select(r => r.Verdict)))}"));
        else Console.WriteLine($"no node produced a program: {outcome.FinalRuns.Count} final run(s) stored as {AgentLoop.NoProgram}, FSR 0");
        var fsr = FinalScore(store, d.Session.Track.Name, d.Label);
        Console.WriteLine(fsr);
        journal.Note($"**{fsr}**");
        Console.WriteLine($"transcript: {journal.TranscriptPath}");
        if (outcome.Interrupted) return 130;
        return outcome.FinalRuns.Count > 0 && outcome.FinalRuns.All(r => r.Verdict == "ok") ? 0 : 1;
    }

    static void Check(Settings s)
    {
        if (s.Budget.Steps < 1) throw new UserError($"--steps is {s.Budget.Steps}; give at least 1.");
        if (s.Budget.Runs < 1) throw new UserError($"--runs is {s.Budget.Runs}; give at least 1.");
        if (!(s.Budget.Minutes > 0)) throw new UserError($"--minutes is {s.Budget.Minutes}; give more than 0.");
        if (s.Seeds < 1) throw new UserError($"--seeds is {s.Seeds}; give at least 1.");
        if (s.Budget.Drafts < 1) throw new UserError($"--drafts is {s.Budget.Drafts}; give at least 1.");
        if (s.Budget.MaxDebugDepth < 0) throw new UserError($"--max-debug-depth is {s.Budget.MaxDebugDepth}; give 0 or more.");
        if (s.Policy.Retries is < 0 or > 20) throw new UserError($"--retries is {s.Policy.Retries}; give 0 to 20.");
        if (s.Policy.Backoff < TimeSpan.Zero) throw new UserError("--backoff must be 0 or more seconds.");
        if (s.Policy.RequestTimeout <= TimeSpan.Zero) throw new UserError("--request-timeout must be more than 0 seconds.");
        if (s.Session.TimeoutMinutes is { } m && !(m > 0 && m <= RunOptions.MaxTimeoutMinutes))
            throw new UserError($"--timeout is {m}; give minutes above 0 and at most a week.");
    }

    static string Count(IReadOnlyList<SolutionNode> nodes) =>
        string.Join(", ", nodes.GroupBy(n => n.Verdict).Select(g => $"{g.Key} {g.Count()}"));

    /// <summary>The final runs' FSR as `speedrun score` computes it, or why it cannot be computed yet.</summary>
    static string FinalScore(ResultsStore store, string track, RunLabel label)
    {
        var report = ScoreBoard.Compute(store.Runs(track: track), track);
        var cell = report.Cells.LastOrDefault(c => c.Agent == label.Agent && c.Task == label.Record && c.Hints == label.Hints);
        if (cell is null) return "FSR: no final runs to score (0 by definition)";
        if (cell.MeanFsr is not { } mean)
            return $"FSR: not computed yet ({cell.Problem}); calibrate, then `speedrun score --track {track}`";
        return string.Create(CultureInfo.InvariantCulture,
            $"FSR of {label.Agent} on task {label.Record}, hints {label.Hints}: mean {mean:F3} over {cell.Runs} final runs " +
            $"(95% CI [{cell.MeanLow:F3}, {cell.MeanHigh:F3}]); `speedrun score --track {track}` has the table");
    }

    static string Safe(string name)
    {
        var chars = name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' ? c : '_').ToArray();
        var safe = new string(chars);
        return safe.Length > 40 ? safe[..40] : safe;
    }

    /// <summary>Times each attempt as `speedrun run` does, in the same session (one session id for all of them).</summary>
    sealed class SessionRunner(BenchmarkSession session, ResultsStore store, RunLabel label, string dir, int task) : IAttemptRunner
    {
        string? _fingerprint;

        public double TargetValLoss => session.Track.TargetValLoss;

        public double? StartReferenceMs
        {
            get
            {
                if (_fingerprint is null) return null;
                var times = store.Runs(kind: RunLabel.Calibration, track: session.Track.Name, fingerprint: _fingerprint, record: task)
                    .Where(r => r.Verdict == "ok" && r.TrainTimeMs is not null).Select(r => r.TrainTimeMs!.Value).ToList();
                return times.Count == 0 ? null : Statistics.Median(times);
            }
        }

        public AttemptRun NoProgram(int seed, string why)
        {
            var record = session.RecordUnrun(label, seed, $"task{task:D2}-final-{AgentLoop.NoProgram}", AgentLoop.NoProgram, why);
            return new AttemptRun(record.Id, record.Verdict, null, null, null, why, null);
        }

        public AttemptRun? Run(string source, int node, int seed, bool final, CancellationToken cancel, Action<long>? started = null)
        {
            var nodeDir = Path.Combine(dir, "nodes", node.ToString("D3", CultureInfo.InvariantCulture));
            Directory.CreateDirectory(nodeDir);
            var path = Path.Combine(nodeDir, RecordInfo.TrainFileName);
            File.WriteAllText(path, source);
            var runLabel = final ? label : label with { Agent = label.Agent + SearchSuffix };
            var record = session.Run(path, runLabel, seed, $"task{task:D2}-n{node:D3}{(final ? "-final" : "")}", cancel, started);
            if (record is null) return null;
            _fingerprint ??= record.Fingerprint;
            return new AttemptRun(record.Id, record.Verdict, record.TrainTimeMs, record.ValLoss, record.Log, record.Problems, record.OutDir);
        }
    }
}
