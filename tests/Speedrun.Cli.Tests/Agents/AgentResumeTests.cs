using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Speedrun.Benchmark.Agents;
using Speedrun.Benchmark.Store;

namespace Speedrun.Cli.Tests.Agents;

/// <summary>
/// `speedrun agent --resume` after the process is killed outright (its whole process tree, as a lost machine or an
/// OOM kill would), at two places: during a node's timed run, and while it waits to retry a rate-limited model call.
/// Each resume rebuilds the session from the store, and the finished session has every model call and attempt exactly
/// once, in the store and in the transcript. Then `speedrun report`'s model × scaffold × hints table over sessions of
/// two scaffolds.
/// </summary>
public sealed partial class AgentScaffoldTests
{
    IReadOnlyDictionary<string, string?> AgentEnvironment => new Dictionary<string, string?>(ladder.Repo.Environment) { [KeyVariable] = Key };

    Process StartAgent(params string[] args) => SpeedrunCli.Start(AgentEnvironment, ["agent", .. args]);

    /// <summary>Polls the store until <paramref name="ready"/> holds for the session of <paramref name="model"/>, then
    /// kills <paramref name="process"/> and its whole tree.</summary>
    void KillWhen(Process process, string model, Func<ResultsStore, AgentSessionRecord, bool> ready, string what)
    {
        var clock = Stopwatch.StartNew();
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        while (true)
        {
            if (process.HasExited)
                Assert.Fail($"speedrun agent exited (code {process.ExitCode}) before {what}:\n{stdout.Result}\n{stderr.Result}");
            Assert.True(clock.Elapsed < TimeSpan.FromMinutes(4), $"never saw {what}");
            if (File.Exists(ladder.Repo.StorePath))
            {
                using var store = ResultsStore.Open(ladder.Repo.StorePath);
                if (store.AgentSessions().FirstOrDefault(s => s.Model == model) is { } session && ready(store, session)) break;
            }
            Thread.Sleep(250);
        }
        process.Kill(entireProcessTree: true);
        process.WaitForExit();
        output.WriteLine($"killed speedrun agent after {clock.Elapsed.TotalSeconds:F1} s, at {what}");
    }

    [Fact]
    public void A_killed_aide_session_resumes_twice_and_ends_with_every_call_and_attempt_once()
    {
        const string model = "resumed-aide";
        var sleeping = File.ReadAllText(LadderRepo.FixtureProgram("Timeout.cs"));

        // 1. Node 1 drafts record 2's program (ok); node 2 improves it with a program that sleeps for ten minutes. The
        //    process is killed while node 2's run is going.
        string sessionDir;
        using (var server = new ScriptedChatServer([ScriptedReply.Program(ladder.Record2), ScriptedReply.Program(sleeping)], repeatLast: false))
        {
            using var agent = StartAgent("--task", "1", "--hints", "1,2", "--model", model, "--endpoint", server.Endpoint, "--api-key-env", KeyVariable,
                "--scaffold", "aide", "--drafts", "1", "--steps", "3", "--seeds", "1", "--track", LadderRepo.Track, "--backoff", "0.1");
            KillWhen(agent, model, (store, s) =>
                store.AgentAttempts(s.Id).Any(a => a is { Node: 2, Verdict: "running", RunId: not null }) &&
                store.Runs(kind: "agent", withText: false).Any(r => r.Verdict == "running" && r.OutDir is { } dir &&
                    File.Exists(Path.Combine(dir, "stdout.txt")) && File.ReadAllText(Path.Combine(dir, "stdout.txt")).Contains("sleeping")),
                "node 2's run (the sleeping program)");
            Assert.Equal(2, server.Requests.Count);
        }
        using (var store = ResultsStore.Open(ladder.Repo.StorePath))
        {
            var session = store.AgentSessions().Single(s => s.Model == model);
            sessionDir = session.Dir;
            Assert.Equal("running", session.Status); // killed: nothing had the chance to close it
            var stored = store.AgentAttempts(session.Id);
            Assert.Equal([("ok", 1), ("running", 2)], stored.Select(a => (a.Verdict, a.Node)));
            // Opening the store closed node 2's runs row: its runner is gone.
            Assert.Equal("interrupted", store.Runs(withText: false).Single(r => r.Id == stored[1].RunId).Verdict);
        }

        // 2. Resumed by its folder: node 2 becomes 'interrupted' (not run again: one attempt, one spent run); the next
        //    turn improves node 1 again (node 3). Its first call is rate limited with Retry-After 60 s, and the process is
        //    killed while it waits to retry. A second process cannot take the session while this one drives it.
        using (var server = new ScriptedChatServer([ScriptedReply.RateLimited("60")], repeatLast: false))
        {
            using var agent = StartAgent("--resume", sessionDir, "--endpoint", server.Endpoint, "--api-key-env", KeyVariable);
            KillWhen(agent, model, (store, s) => store.ModelCalls(s.Id).Any(c => c.Node == 3 && c.Error is not null), "node 3's rate-limited call");
            Assert.Single(server.Requests);
        }

        // 3. Resumed by id: node 3 is asked again (its second try) and answers with a program that does not compile;
        //    the three turns are spent, and the best node (node 1, record 2) is run with the one final seed.
        CliResult last;
        string sessionId;
        using (var store = ResultsStore.Open(ladder.Repo.StorePath)) sessionId = store.AgentSessions().Single(s => s.Model == model).Id;
        using (var server = new ScriptedChatServer([ScriptedReply.Program(ladder.NotCompiling)], repeatLast: false))
        {
            using (var other = new ScriptedChatServer([ScriptedReply.Program(ladder.NotCompiling)]))
            {
                // While the session is driven, a second --resume is refused (the folder's lock), and it changes nothing.
                using var first = StartAgent("--resume", sessionId, "--endpoint", server.Endpoint, "--api-key-env", KeyVariable);
                var clock = Stopwatch.StartNew();
                while (!server.Requests.Any() && !first.HasExited && clock.Elapsed < TimeSpan.FromMinutes(2)) Thread.Sleep(100);
                var refused = SpeedrunCli.Run(AgentEnvironment, TimeSpan.FromMinutes(2), "agent", "--resume", sessionId, "--endpoint", other.Endpoint,
                    "--api-key-env", KeyVariable);
                Assert.True(refused.ExitCode == 2, refused.ToString());
                Assert.Contains($"agent session {sessionId} is being driven by another process", refused.Stderr);
                Assert.Empty(other.Requests);
                last = SpeedrunCli.Wait(first, TimeSpan.FromMinutes(10), ["agent", "--resume"]);
            }
            output.WriteLine(last.ToString());
            Assert.True(last.ExitCode == 0, last.ToString());
            Assert.Single(server.Requests);
        }

        using var done = ResultsStore.Open(ladder.Repo.StorePath);
        var final = done.AgentSessions().Single(s => s.Model == model);
        Assert.Equal(("finished", 1, "--steps 3 model turns used"), (final.Status, final.BestNode, final.StopReason));
        // Every call once: node 1 and node 2 one try each; node 3 its rate-limited try (before the second kill) and its
        // second try (after the resume). Nothing was asked twice.
        var calls = done.ModelCalls(sessionId);
        Assert.Equal([(1, 1, "draft", false), (2, 1, "improve", false), (3, 1, "improve", true), (3, 2, "improve", false)],
            calls.Select(c => (c.Node, c.Try, c.Stage, c.Error is not null)));
        Assert.Equal([null, 1, 1, 1], calls.Select(c => c.ParentNode));
        Assert.StartsWith("HTTP 429", calls[2].Error);
        // Every attempt once: three nodes and one final run.
        var attempts = done.AgentAttempts(sessionId);
        Assert.Equal([(1, "draft", "ok"), (2, "improve", "interrupted"), (3, "improve", "compile_error"), (1, "final", "ok")],
            attempts.Select(a => (a.Node, a.Stage, a.Verdict)));
        Assert.Equal([calls[0].Id, calls[1].Id, calls[3].Id, (long?)null], attempts.Select(a => a.CallId));
        Assert.Contains("the session stopped during its run", attempts[1].Problem);
        Assert.Equal(sleeping.TrimEnd(), attempts[1].Source!.TrimEnd());
        Assert.Equal(ladder.NotCompiling, attempts[2].Source);
        // Every run once: each attempt's runs row, and no other row carries this model's labels.
        var runs = ladder.Repo.StoredRuns(withText: true).Where(r => r.Agent is { } a && a.StartsWith(model + "@", StringComparison.Ordinal)).ToList();
        Assert.Equal(attempts.Select(a => a.RunId), runs.Select(r => (long?)r.Id));
        Assert.Equal(["ok", "interrupted", "compile_error", "ok"], runs.Select(r => r.Verdict));
        Assert.Equal([$"{model}@aide:search", $"{model}@aide:search", $"{model}@aide:search", $"{model}@aide"], runs.Select(r => r.Agent));
        Assert.Equal(ladder.Record2, runs[3].Source);

        // The transcript, appended across the three processes: each call and each attempt's result once, two resumes.
        var transcript = File.ReadAllText(Path.Combine(sessionDir, AgentJournal.TranscriptFileName));
        foreach (var c in calls) Assert.Single(Regex.Matches(transcript, $"### Model call {c.Id} \\(node {c.Node}, "));
        Assert.Equal(4, Regex.Matches(transcript, "### Model call ").Count);
        foreach (var n in new[] { 1, 2, 3 }) Assert.Single(Regex.Matches(transcript, $"\nNode {n} \\(program\\): \\*\\*"));
        Assert.Contains("Node 2 (program): **interrupted**", transcript);
        Assert.Single(Regex.Matches(transcript, "Final run, seed 0: "));
        Assert.Equal(2, Regex.Matches(transcript, "\n## Resumed ").Count);
        Assert.Contains("- spent before: 2 of 3 model turns, 2 of 3 timed runs", transcript);
        Assert.Contains("- node 3 (improve) had 1 model call(s) recorded, none answered: it is asked again", transcript);
        Assert.Contains("## Node 3: improve of node 1 (resumed)", transcript);

        // The final best program is scored: record 2's program, faster than record 1.
        var cell = Cell($"{model}@aide");
        Assert.Equal((1, 1), (cell.GetProperty("runs").GetInt32(), cell.GetProperty("ok").GetInt32()));
        var fsr = cell.GetProperty("fsr")[0].GetDouble();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"resumed session's FSR: {fsr:F3}"));
        Assert.True(fsr > 0, $"FSR {fsr}: record 2's program should beat record 1's");
        Assert.Contains($"FSR of {model}@aide on task 1, hints 1,2: mean", last.Stdout);

        // A finished session is not resumed again.
        var again = SpeedrunCli.Run(AgentEnvironment, TimeSpan.FromMinutes(2), "agent", "--resume", sessionId, "--endpoint", "http://127.0.0.1:9/v1");
        Assert.Equal(2, again.ExitCode);
        Assert.Contains($"agent session {sessionId} already ended (finished", again.Stderr);
    }

    [Fact]
    public void Report_shows_fsr_by_model_scaffold_and_hints()
    {
        // Two sessions of two scaffolds: flat without a program (two no_program final runs) and bon with record 2's
        // program (one final run).
        var flat = Agent([new ScriptedReply("No code from me.")], "report-m1", Scaffolds.Flat, "--seeds", "2");
        Assert.True(flat.Cli.ExitCode == 1, flat.Cli.ToString());
        var bon = Agent([ScriptedReply.Program(ladder.Record2)], "report-m2", Scaffolds.BestOfN, "--steps", "1", "--seeds", "1");
        Assert.True(bon.Cli.ExitCode == 0, bon.Cli.ToString());

        var dir = Path.Combine(ladder.Repo.Root, "report-" + Guid.NewGuid().ToString("N")[..8]);
        var report = ladder.Repo.Cli("report", "--out", dir, "--track", LadderRepo.Track);
        Assert.True(report.ExitCode == 0, report.ToString());
        Assert.Contains("agents-ladder.csv", report.Stdout);

        var rows = File.ReadAllLines(Path.Combine(dir, "agents-ladder.csv"));
        Assert.Equal("track,model,scaffold,hints,agent,tasks,tasks_scored,runs,ok,verdicts,mean_fsr,ci_low,ci_high", rows[0]);
        Assert.DoesNotContain(rows, r => r.Contains(":search", StringComparison.Ordinal));
        Assert.Contains("ladder,report-m1,flat,\"1,2\",report-m1@flat,1,1,2,0,no_program 2,0,0,0", rows);
        var bonRow = Assert.Single(rows, r => r.StartsWith("ladder,report-m2,bon,\"1,2\",report-m2@bon,1,1,1,1,ok 1,", StringComparison.Ordinal));
        // One task: the mean over tasks is that task's mean FSR, the one `speedrun score` computes for the cell.
        var fields = bonRow.Split(',');
        var mean = double.Parse(fields[^3], CultureInfo.InvariantCulture);
        var (low, high) = (double.Parse(fields[^2], CultureInfo.InvariantCulture), double.Parse(fields[^1], CultureInfo.InvariantCulture));
        Assert.Equal(Cell("report-m2@bon").GetProperty("mean_fsr").GetDouble(), mean, 12);
        Assert.True(low <= mean && mean <= high && mean > 0, $"bon: mean {mean}, CI [{low}, {high}]");

        var md = File.ReadAllText(Path.Combine(dir, "report.md"));
        Assert.Contains("### Models × scaffolds × hints", md);
        Assert.Contains("| report-m1 | flat | 1,2 | 1 of 1 | 2 | 0 | no_program 2 | 0.000 | [0.000, 0.000] |", md);
        Assert.Contains(string.Create(CultureInfo.InvariantCulture,
            $"| report-m2 | bon | 1,2 | 1 of 1 | 1 | 1 | ok 1 | {mean:F3} | [{low:F3}, {high:F3}] |"), md);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "scores.json")));
        var agents = json.RootElement.GetProperty("tracks")[0].GetProperty("agents").EnumerateArray().ToList();
        var m1 = Assert.Single(agents, a => a.GetProperty("agent").GetString() == "report-m1@flat");
        Assert.Equal((2, 0.0), (m1.GetProperty("verdicts").GetProperty("no_program").GetInt32(), m1.GetProperty("mean_fsr").GetDouble()));
    }
}
