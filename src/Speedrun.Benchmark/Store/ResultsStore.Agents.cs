using System.Globalization;
using Microsoft.Data.Sqlite;
using Speedrun.Benchmark.Agents;

namespace Speedrun.Benchmark.Store;

/// <summary>The `speedrun agent` tables (schema 8): sessions, model calls, attempts.</summary>
public sealed partial class ResultsStore
{
    public void AddAgentSession(AgentSessionRecord s)
    {
        using var cmd = _db.CreateCommand();
        cmd.CommandText = """
            INSERT INTO agent_sessions (id, task, hints, model, endpoint, scaffold, agent, track, settings, workspace_id, dir,
                started_at, finished_at, status, best_node, stop_reason)
            VALUES ($id, $task, $hints, $model, $endpoint, $scaffold, $agent, $track, $settings, $workspace, $dir,
                $started, $finished, $status, $best, $stop)
            """;
        Bind(cmd, "$id", s.Id); Bind(cmd, "$task", s.Task); Bind(cmd, "$hints", s.Hints); Bind(cmd, "$model", s.Model);
        Bind(cmd, "$endpoint", s.Endpoint); Bind(cmd, "$scaffold", s.Scaffold); Bind(cmd, "$agent", s.Agent); Bind(cmd, "$track", s.Track);
        Bind(cmd, "$settings", s.Settings); Bind(cmd, "$workspace", s.WorkspaceId); Bind(cmd, "$dir", s.Dir);
        Bind(cmd, "$started", s.StartedAt.UtcDateTime.ToString("O")); Bind(cmd, "$finished", s.FinishedAt?.UtcDateTime.ToString("O"));
        Bind(cmd, "$status", s.Status); Bind(cmd, "$best", s.BestNode); Bind(cmd, "$stop", s.StopReason);
        cmd.ExecuteNonQuery();
    }

    /// <summary>Closes a session: its status, best node and why the search stopped.</summary>
    public void FinishAgentSession(string id, string status, int? bestNode, string? stopReason)
    {
        using var cmd = _db.CreateCommand();
        cmd.CommandText = """
            UPDATE agent_sessions SET status = $status, best_node = $best, stop_reason = $stop, finished_at = $finished WHERE id = $id
            """;
        Bind(cmd, "$status", status); Bind(cmd, "$best", bestNode); Bind(cmd, "$stop", stopReason);
        Bind(cmd, "$finished", DateTimeOffset.UtcNow.UtcDateTime.ToString("O")); Bind(cmd, "$id", id);
        if (cmd.ExecuteNonQuery() != 1) throw new InvalidOperationException($"{Path}: agent session {id} is not in the store.");
    }

    /// <summary>Opens a stopped session again for `speedrun agent --resume`: status 'running', no end, best node or stop
    /// reason until it finishes anew.</summary>
    public void ReopenAgentSession(string id)
    {
        using var cmd = _db.CreateCommand();
        cmd.CommandText = """
            UPDATE agent_sessions SET status = 'running', best_node = NULL, stop_reason = NULL, finished_at = NULL WHERE id = $id
            """;
        Bind(cmd, "$id", id);
        if (cmd.ExecuteNonQuery() != 1) throw new InvalidOperationException($"{Path}: agent session {id} is not in the store.");
    }

    /// <summary>The session stored under <paramref name="id"/>, or null.</summary>
    public AgentSessionRecord? AgentSession(string id) => AgentSessions().FirstOrDefault(s => s.Id == id);

    public long AddModelCall(ModelCallRecord c)
    {
        using var cmd = _db.CreateCommand();
        cmd.CommandText = """
            INSERT INTO agent_calls (session_id, node, parent_node, stage, try, prompt, response, tokens_in, tokens_out, latency_s, error, started_at)
            VALUES ($session, $node, $parent, $stage, $try, $prompt, $response, $in, $out, $latency, $error, $started)
            RETURNING id
            """;
        Bind(cmd, "$session", c.Session); Bind(cmd, "$node", c.Node); Bind(cmd, "$parent", c.ParentNode); Bind(cmd, "$stage", c.Stage);
        Bind(cmd, "$try", c.Try); Bind(cmd, "$prompt", c.Prompt); Bind(cmd, "$response", c.Response); Bind(cmd, "$in", c.TokensIn);
        Bind(cmd, "$out", c.TokensOut); Bind(cmd, "$latency", c.LatencySeconds); Bind(cmd, "$error", c.Error);
        Bind(cmd, "$started", c.StartedAt.UtcDateTime.ToString("O"));
        return Convert.ToInt64(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    public long AddAgentAttempt(AgentAttemptRecord a)
    {
        using var cmd = _db.CreateCommand();
        cmd.CommandText = """
            INSERT INTO agent_attempts (session_id, node, parent_node, stage, call_id, reply_format, source, source_sha256, verdict,
                run_id, seed, train_time_ms, val_loss, problem, created_at)
            VALUES ($session, $node, $parent, $stage, $call, $format, $source, $sha, $verdict, $run, $seed, $ms, $loss, $problem, $created)
            RETURNING id
            """;
        Bind(cmd, "$session", a.Session); Bind(cmd, "$node", a.Node); Bind(cmd, "$parent", a.ParentNode); Bind(cmd, "$stage", a.Stage);
        Bind(cmd, "$call", a.CallId); Bind(cmd, "$format", a.ReplyFormat); Bind(cmd, "$source", a.Source); Bind(cmd, "$sha", a.SourceSha256);
        Bind(cmd, "$verdict", a.Verdict); Bind(cmd, "$run", a.RunId); Bind(cmd, "$seed", a.Seed); Bind(cmd, "$ms", a.TrainTimeMs);
        Bind(cmd, "$loss", Finite(a.ValLoss)); Bind(cmd, "$problem", a.Problem); Bind(cmd, "$created", a.CreatedAt.UtcDateTime.ToString("O"));
        return Convert.ToInt64(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    /// <summary>Completes an attempt row added with verdict 'running': its verdict, run, seed, numbers and problem.</summary>
    public void UpdateAgentAttempt(AgentAttemptRecord a)
    {
        using var cmd = _db.CreateCommand();
        cmd.CommandText = """
            UPDATE agent_attempts SET verdict = $verdict, run_id = $run, seed = $seed, train_time_ms = $ms, val_loss = $loss, problem = $problem
            WHERE id = $id AND session_id = $session
            """;
        Bind(cmd, "$verdict", a.Verdict); Bind(cmd, "$run", a.RunId); Bind(cmd, "$seed", a.Seed); Bind(cmd, "$ms", a.TrainTimeMs);
        Bind(cmd, "$loss", Finite(a.ValLoss)); Bind(cmd, "$problem", a.Problem); Bind(cmd, "$id", a.Id); Bind(cmd, "$session", a.Session);
        if (cmd.ExecuteNonQuery() != 1) throw new InvalidOperationException($"{Path}: attempt {a.Id} of agent session {a.Session} is not in the store.");
    }

    /// <summary>Links an attempt to the runs row its program is being timed in (set as soon as the row exists).</summary>
    public void SetAgentAttemptRun(long attempt, long run)
    {
        using var cmd = _db.CreateCommand();
        cmd.CommandText = "UPDATE agent_attempts SET run_id = $run WHERE id = $id";
        Bind(cmd, "$run", run); Bind(cmd, "$id", attempt);
        if (cmd.ExecuteNonQuery() != 1) throw new InvalidOperationException($"{Path}: agent attempt {attempt} is not in the store.");
    }

    /// <summary>Every agent session, oldest first.</summary>
    public IReadOnlyList<AgentSessionRecord> AgentSessions()
    {
        using var cmd = _db.CreateCommand();
        cmd.CommandText = """
            SELECT id, task, hints, model, endpoint, scaffold, agent, track, settings, workspace_id, dir, started_at, finished_at,
                   status, best_node, stop_reason
            FROM agent_sessions ORDER BY started_at, id
            """;
        using var r = cmd.ExecuteReader();
        var list = new List<AgentSessionRecord>();
        while (r.Read())
            list.Add(new AgentSessionRecord
            {
                Id = r.GetString(0), Task = r.GetInt32(1), Hints = r.GetString(2), Model = r.GetString(3), Endpoint = r.GetString(4),
                Scaffold = r.GetString(5), Agent = r.GetString(6), Track = r.GetString(7), Settings = r.GetString(8),
                WorkspaceId = r.GetString(9), Dir = r.GetString(10), StartedAt = Time(r, 11)!.Value, FinishedAt = Time(r, 12),
                Status = r.GetString(13), BestNode = r.IsDBNull(14) ? null : r.GetInt32(14), StopReason = Text(r, 15),
            });
        return list;
    }

    /// <summary>A session's model calls (every try), in order.</summary>
    public IReadOnlyList<ModelCallRecord> ModelCalls(string session)
    {
        using var cmd = _db.CreateCommand();
        cmd.CommandText = """
            SELECT id, session_id, node, parent_node, stage, try, prompt, response, tokens_in, tokens_out, latency_s, error, started_at
            FROM agent_calls WHERE session_id = $session ORDER BY id
            """;
        Bind(cmd, "$session", session);
        using var r = cmd.ExecuteReader();
        var list = new List<ModelCallRecord>();
        while (r.Read())
            list.Add(new ModelCallRecord
            {
                Id = r.GetInt64(0), Session = r.GetString(1), Node = r.GetInt32(2), ParentNode = r.IsDBNull(3) ? null : r.GetInt32(3),
                Stage = r.GetString(4), Try = r.GetInt32(5), Prompt = r.GetString(6), Response = Text(r, 7),
                TokensIn = r.IsDBNull(8) ? null : r.GetInt64(8), TokensOut = r.IsDBNull(9) ? null : r.GetInt64(9),
                LatencySeconds = r.GetDouble(10), Error = Text(r, 11), StartedAt = Time(r, 12)!.Value,
            });
        return list;
    }

    /// <summary>A session's attempts (search nodes, then final runs), in order.</summary>
    public IReadOnlyList<AgentAttemptRecord> AgentAttempts(string session)
    {
        using var cmd = _db.CreateCommand();
        cmd.CommandText = """
            SELECT id, session_id, node, parent_node, stage, call_id, reply_format, source, source_sha256, verdict, run_id, seed,
                   train_time_ms, val_loss, problem, created_at
            FROM agent_attempts WHERE session_id = $session ORDER BY id
            """;
        Bind(cmd, "$session", session);
        using var r = cmd.ExecuteReader();
        var list = new List<AgentAttemptRecord>();
        while (r.Read())
            list.Add(new AgentAttemptRecord
            {
                Id = r.GetInt64(0), Session = r.GetString(1), Node = r.GetInt32(2), ParentNode = r.IsDBNull(3) ? null : r.GetInt32(3),
                Stage = r.GetString(4), CallId = r.IsDBNull(5) ? null : r.GetInt64(5), ReplyFormat = r.GetString(6), Source = Text(r, 7),
                SourceSha256 = Text(r, 8), Verdict = r.GetString(9), RunId = r.IsDBNull(10) ? null : r.GetInt64(10),
                Seed = r.IsDBNull(11) ? null : r.GetInt32(11), TrainTimeMs = Real(r, 12), ValLoss = Real(r, 13), Problem = Text(r, 14),
                CreatedAt = Time(r, 15)!.Value,
            });
        return list;
    }

    static DateTimeOffset? Time(SqliteDataReader r, int i) =>
        r.IsDBNull(i) ? null : DateTimeOffset.Parse(r.GetString(i), CultureInfo.InvariantCulture);
}
