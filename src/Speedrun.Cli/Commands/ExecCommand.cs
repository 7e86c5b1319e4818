using System.CommandLine;
using Speedrun.Benchmark.Runs;

namespace Speedrun.Cli.Commands;

/// <summary>`speedrun exec program.dll`: the child side of a run (hidden); the runner starts it.</summary>
internal static class ExecCommand
{
    public static Command Create()
    {
        var assembly = new Argument<string>("assembly") { Description = "A compiled training program" };
        var command = new Command("exec", "Run a compiled training program in this process (used by the runner).")
        {
            assembly,
        };
        command.Hidden = true;
        command.SetAction(parse => ProgramEntry.Run(parse.GetValue(assembly)!, []));
        return command;
    }

    /// <summary>How to start the children of a run, `speedrun exec` and `speedrun exec-eval`: this executable, or
    /// `dotnet speedrun.dll` in development.</summary>
    public static RunnerHosts SelfHosts() => new(SelfHost("exec"), SelfHost(ExecEvalCommand.Verb));

    static ProgramHost SelfHost(string verb)
    {
        var path = Environment.ProcessPath ?? throw new InvalidOperationException("Cannot find the speedrun executable.");
        var name = Path.GetFileNameWithoutExtension(path);
        if (name.Equals("dotnet", StringComparison.OrdinalIgnoreCase))
            return new ProgramHost(path, [typeof(ExecCommand).Assembly.Location, verb]);
        return new ProgramHost(path, [verb]);
    }
}
