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

    /// <summary>
    /// The children run with tiered compilation off. Tiered, the SIMD loops of System.Numerics.Tensors that the CPU
    /// device's host paths call (TensorPrimitives.Exp, Subtract, ...) start in unoptimised code and settle, seconds later,
    /// in code still far slower than the optimising JIT's. Measured on the project's 2-core AMD EPYC VM: Exp over 50,257
    /// floats 3.2 ms for the first 2 s, then 620 µs, against 28 µs untiered; the cross-entropy of 64 × 50,257 logits
    /// 54 ms against 3.3 ms. A run is timed from its process's start, so the price (start-up methods compiled fully
    /// optimised) is in its time too.
    /// </summary>
    public static IReadOnlyDictionary<string, string> RuntimeSettings { get; } =
        new Dictionary<string, string> { ["DOTNET_TieredCompilation"] = "0" };

    static ProgramHost SelfHost(string verb)
    {
        var path = Environment.ProcessPath ?? throw new InvalidOperationException("Cannot find the speedrun executable.");
        var name = Path.GetFileNameWithoutExtension(path);
        var arguments = name.Equals("dotnet", StringComparison.OrdinalIgnoreCase)
            ? new[] { typeof(ExecCommand).Assembly.Location, verb }
            : [verb];
        return new ProgramHost(path, arguments) { Environment = RuntimeSettings };
    }
}
