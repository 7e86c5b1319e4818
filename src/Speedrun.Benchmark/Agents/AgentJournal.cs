using System.Globalization;
using System.Text;
using Speedrun.Benchmark.Store;

namespace Speedrun.Benchmark.Agents;

/// <summary>
/// Writes a session's calls and attempts to the store and, readable by a person, to transcript.md in the session
/// folder (appended as it goes, so an interrupted session keeps what happened). Every text passes through
/// <paramref name="redact"/> first.
/// </summary>
public sealed class AgentJournal(ResultsStore store, string transcriptPath, Func<string, string> redact) : IAgentJournal
{
    public const string TranscriptFileName = "transcript.md";

    public string TranscriptPath => transcriptPath;

    public long AddCall(ModelCallRecord call)
    {
        long id = store.AddModelCall(call);
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append(string.Create(inv, $"### Model call {id} (node {call.Node}, {call.Stage}, try {call.Try})\n\n"));
        sb.Append(string.Create(inv, $"- latency {call.LatencySeconds:F2} s, tokens in {call.TokensIn?.ToString(inv) ?? "?"}, out {call.TokensOut?.ToString(inv) ?? "?"}\n"));
        if (call.Error is not null) sb.Append("- **failed**: ").Append(call.Error).Append('\n');
        sb.Append("\n<details><summary>prompt (").Append(call.Prompt.Length.ToString(inv)).Append(" characters)</summary>\n\n")
          .Append(Fence(call.Prompt, "markdown")).Append("\n</details>\n\n");
        if (call.Response is not null) sb.Append("Response:\n\n").Append(Fence(call.Response, "text")).Append('\n');
        Append(sb.ToString());
        return id;
    }

    public long AddAttempt(AgentAttemptRecord attempt) => store.AddAgentAttempt(attempt);

    public void UpdateAttempt(AgentAttemptRecord attempt) => store.UpdateAgentAttempt(attempt);

    public void AttemptRunStarted(long attempt, long run) => store.SetAgentAttemptRun(attempt, run);

    public void Note(string markdown) => Append(markdown.TrimEnd() + "\n\n");

    void Append(string text) => File.AppendAllText(transcriptPath, redact(text), Utf8NoBom);

    static readonly UTF8Encoding Utf8NoBom = new(encoderShouldEmitUTF8Identifier: false);

    /// <summary>A fence longer than any run of backticks inside, so a reply's own code blocks stay inside it.</summary>
    static string Fence(string text, string lang)
    {
        int longest = 0, run = 0;
        foreach (var c in text) { run = c == '`' ? run + 1 : 0; longest = Math.Max(longest, run); }
        var fence = new string('`', Math.Max(3, longest + 1));
        return $"{fence}{lang}\n{text.TrimEnd()}\n{fence}\n";
    }
}
