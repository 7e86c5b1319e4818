using System.CommandLine;
using Speedrun.Benchmark.Runs;

namespace Speedrun.Cli.Commands;

/// <summary>`speedrun exec-eval program.dll model.safetensors socket`: the evaluation process of a run (hidden); the
/// runner starts it and computes the loss from the logits it sends.</summary>
internal static class ExecEvalCommand
{
    public const string Verb = "exec-eval";

    public static Command Create()
    {
        var assembly = new Argument<string>("assembly") { Description = "A compiled training program" };
        var model = new Argument<string>("model") { Description = "The model file the program saved" };
        var socket = new Argument<string>("socket") { Description = "The harness's evaluation socket" };
        var command = new Command(Verb, "Serve a saved model's logits to the harness (used by the runner).") { assembly, model, socket };
        command.Hidden = true;
        command.SetAction(parse => EvaluationEntry.Run(parse.GetValue(assembly)!, parse.GetValue(model)!, parse.GetValue(socket)!));
        return command;
    }
}
