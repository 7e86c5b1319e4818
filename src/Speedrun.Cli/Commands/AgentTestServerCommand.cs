using System.CommandLine;
using Speedrun.Benchmark.Agents;
using Speedrun.Cli.Support;

namespace Speedrun.Cli.Commands;

/// <summary>
/// `speedrun agent-test-server [--port P] --reply-with FILE [--reply-with FILE ...]` (hidden): a local
/// OpenAI-compatible chat-completions server that answers every request with the next file in turn (a .diff or
/// .patch file as a diff, anything else as a whole program), the last one from then on. For trying `speedrun agent`
/// without a model; it serves until stopped (Ctrl-C).
/// </summary>
internal static class AgentTestServerCommand
{
    public static Command Create()
    {
        var port = new Option<int>("--port") { Description = "Port on 127.0.0.1", DefaultValueFactory = _ => 8808 };
        var replies = new Option<string[]>("--reply-with") { Description = "A file to answer with (repeat for a sequence)", Required = true };
        var command = new Command("agent-test-server", "A scripted OpenAI-compatible chat server on 127.0.0.1, for trying `speedrun agent` offline.")
        {
            port, replies,
        };
        command.Hidden = true;
        command.SetAction(async (parse, cancel) =>
        {
            var script = new List<ScriptedReply>();
            foreach (var file in parse.GetValue(replies)!)
            {
                if (!File.Exists(file))
                {
                    Console.Error.WriteLine($"error: --reply-with {file}: no such file.");
                    return UserErrors.ExitCode;
                }
                var text = File.ReadAllText(file);
                script.Add(file.EndsWith(".diff", StringComparison.Ordinal) || file.EndsWith(".patch", StringComparison.Ordinal)
                    ? ScriptedReply.Diff(text) : ScriptedReply.Program(text));
            }
            using var server = new ScriptedChatServer(script, parse.GetValue(port));
            Console.WriteLine($"serving chat completions at {server.Endpoint} ({script.Count} scripted replies); Ctrl-C stops");
            try { await Task.Delay(Timeout.Infinite, cancel); }
            catch (OperationCanceledException) { }
            return 0;
        });
        return command;
    }
}
