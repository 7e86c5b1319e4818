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
/// </summary>
internal static class AgentCommand
{
    public const string SearchSuffix = ":search";

    public static Command Create()
    {
        var task = new Option<int>("--task") { Description = "Task number = its start record (see `speedrun records`)", Required = true };
        var hints = new Option<string>("--hints") { Description = "none, or hint levels such as 1 or 1,2 or 1,2,3", DefaultValueFactory = _ => "none" };
        var model = new Option<string>("--model") { Description = "The model's name as the endpoint knows it", Required = true };
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
        var command = new Command("agent", "Let a chat model attempt task N through a scaffold (flat, bon, aide); time, store and score every attempt.")
        {
            task, hints, model, endpoint, keyEnv, scaffold, steps, runs, minutes, seeds, drafts, depth, retries, backoff, requestTimeout,
            track, timeout, store, device, runsDir,
        };
        command.SetAction((parse, cancel) => Task.FromResult(UserErrors.Guard(() =>
        {
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

    static int Run(Settings s, CancellationToken cancel)
    {
        Check(s);
        if (!HintSelection.TryParse(s.Hints, out var hints, out var hintError)) throw new UserError($"--hints: {hintError}");
        var endpoint = ModelEndpoint.Parse(s.Endpoint);
        // The key: read once, then gone from the environment, so no program this process starts can see it.
        var key = Environment.GetEnvironmentVariable(s.KeyVariable) ?? "";
        Environment.SetEnvironmentVariable(s.KeyVariable, null);
        if (key.Length == 0 && endpoint is null)
            throw new UserError($"${s.KeyVariable} is not set: export the API key there (or name another variable with --api-key-env), " +
                                "or give --endpoint for a local server that needs none.");
        string Redact(string text) => key.Length >= 4 ? text.Replace(key, "[redacted]", StringComparison.Ordinal) : text;

        var catalog = BenchmarkCatalog.LoadDefault();
        catalog.GetTask(s.Task); // an unknown task fails here, before the data or the store is touched
        using var session = BenchmarkSession.Open(s.Session, defaultTrack: "tiny");
        var agent = $"{s.Model}@{s.Scaffold}";
        var sessionId = $"{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Guid.NewGuid().ToString("N")[..8]}";
        var dir = Path.Combine(session.RunsDir, $"agent-{sessionId}-task{s.Task:D2}-{Safe(s.Model)}-{s.Scaffold}");
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
        store.AddAgentSession(new AgentSessionRecord
        {
            Id = sessionId, Task = s.Task, Hints = label.Hints!, Model = s.Model, Endpoint = ModelEndpoint.Describe(endpoint), Scaffold = s.Scaffold,
            Agent = agent, Track = session.Track.Name, Settings = settingsJson, WorkspaceId = manifest.WorkspaceId, Dir = dir, StartedAt = DateTimeOffset.UtcNow,
        });
        var journal = new AgentJournal(store, Path.Combine(dir, AgentJournal.TranscriptFileName), Redact);
        journal.Note($"# Agent session {sessionId}\n\n" +
                     $"- task {s.Task} (record {manifest.StartRecord.Number} to {manifest.NextRecord}), hints {label.Hints}, track {session.Track.Name}\n" +
                     $"- model `{s.Model}` at {ModelEndpoint.Describe(endpoint)}, scaffold {s.Scaffold}, agent label `{agent}` (search runs `{agent}{SearchSuffix}`)\n" +
                     $"- budgets and settings: `{settingsJson}`\n- store {session.StorePath}, workspace {workspace}\n" +
                     "- resuming an interrupted session is not supported yet: start a new one.");
        Console.Error.WriteLine($"speedrun agent: {agent} on task {s.Task}, hints {label.Hints}, track '{session.Track.Name}'; session {dir}");

        using var chat = ModelEndpoint.Create(s.Model, endpoint, key, s.Policy.RequestTimeout);
        var caller = new ModelCaller(chat, s.Policy, journal.AddCall, Redact);
        var runner = new SessionRunner(session, store, label, dir, s.Task);
        var loop = new AgentLoop(s.Scaffold, s.Budget, TaskMaterial.Read(workspace, manifest), caller, runner, journal, sessionId);
        AgentOutcome outcome;
        try
        {
            outcome = loop.Run(s.Seeds, firstSeed: 0, cancel);
        }
        catch (OperationCanceledException)
        {
            store.FinishAgentSession(sessionId, "interrupted", null, "stopped by the user");
            journal.Note("Session interrupted by the user.");
            return 130;
        }
        catch (Exception e)
        {
            store.FinishAgentSession(sessionId, "failed", null, Redact(e.Message));
            journal.Note($"Session failed: {Redact(e.Message)}");
            throw;
        }
        var status = outcome.Interrupted ? "interrupted" : outcome.Best?.Source is null ? "no_program" : "finished";
        store.FinishAgentSession(sessionId, status, outcome.Best?.Id, outcome.StopReason);

        Console.WriteLine($"agent session {sessionId}: {outcome.Nodes.Count} nodes ({Count(outcome.Nodes)}), stopped: {outcome.StopReason}");
        if (outcome.Best is { } best)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"best node {best.Id} ({best.Stage}): {best.Verdict}{(best.TrainTimeMs is { } t ? $", {t / 1000:F2} s" : "")}; " +
                $"final runs: {(outcome.FinalRuns.Count == 0 ? "none" : string.Join(", ", outcome.FinalRuns.Select(r => r.Verdict)))}"));
        else Console.WriteLine("no node produced a program: nothing to run, FSR 0");
        var fsr = FinalScore(store, session.Track.Name, label);
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

        public AttemptRun? Run(string source, int node, int seed, bool final, CancellationToken cancel)
        {
            var nodeDir = Path.Combine(dir, "nodes", node.ToString("D3", CultureInfo.InvariantCulture));
            Directory.CreateDirectory(nodeDir);
            var path = Path.Combine(nodeDir, RecordInfo.TrainFileName);
            File.WriteAllText(path, source);
            var runLabel = final ? label : label with { Agent = label.Agent + SearchSuffix };
            var record = session.Run(path, runLabel, seed, $"task{task:D2}-n{node:D3}{(final ? "-final" : "")}", cancel);
            if (record is null) return null;
            _fingerprint ??= record.Fingerprint;
            return new AttemptRun(record.Id, record.Verdict, record.TrainTimeMs, record.ValLoss, record.Log, record.Problems, record.OutDir);
        }
    }
}
