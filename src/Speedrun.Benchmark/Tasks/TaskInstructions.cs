using System.Globalization;
using System.Text;
using Speedrun.Benchmark.Catalog;
using Speedrun.Core.Training;

namespace Speedrun.Benchmark.Tasks;

/// <summary>
/// The text of TASK.md: the goal, the starting point, the hints given, the contract a valid program keeps,
/// how to time a run and how the attempt is scored. It never names the next record (that would be a hint).
/// </summary>
public static class TaskInstructions
{
    public static string Render(BenchmarkTask task, HintSelection hints, IReadOnlyList<Track> tracks)
    {
        var inv = CultureInfo.InvariantCulture;
        var n = task.Start.Number;
        var next = task.Next.Number;
        var sb = new StringBuilder();
        sb.Append(inv, $"# Task {n}: speed up record {n}\n\n");

        sb.Append("## Goal\n\n");
        sb.Append(inv, $"`Train.cs` is the whole training program of NanoGPT speedrun record {n} (\"{task.Start.Name}\"), ");
        sb.Append("ported to C#: it trains a GPT-2-style language model for a fixed number of steps and reports its ");
        sb.Append("validation loss. Make it reach the track's target validation loss in **less training time**. ");
        sb.Append(inv, $"The next human record, record {next}, did this; your attempt is measured against it.\n\n");

        sb.Append("## Hints\n\n");
        if (hints.IsNone)
            sb.Append(inv, $"None: you get no information about record {next}. Any valid change that makes training faster counts.\n\n");
        else
        {
            sb.Append(inv, $"The folder `hints/` describes what record {next} changed:\n\n");
            foreach (var level in hints.Levels)
                sb.Append(inv, $"- `hints/{HintLevels.FileName(level)}`: level {level}, {HintLevels.Title(level)}\n");
            sb.Append('\n');
        }

        sb.Append("## Contract\n\n");
        sb.Append("- End training with `ctx.SaveModel(model)`, where the model is a `Module` that implements ");
        sb.Append("`ILanguageModel<TSelf>`: `Create(track, device)` builds it again (untrained) for the evaluation, ");
        sb.Append("`ContextLength` is the sequence length to evaluate with, and `Logits(inputs)` maps (B, T) token ids to ");
        sb.Append("(B, T, C) logits with C at least the 50,257-token vocabulary. No saved model: `no_metrics`.\n");
        sb.Append("- The harness times the training process itself, from its start until it exits: start-up, warm-up, ");
        sb.Append("any validation you run and saving the model all count. Then, in a separate process, it loads the saved ");
        sb.Append("model and computes the validation loss from your `Logits` with its own loss and data.\n");
        sb.Append("- The logits at position t may depend only on tokens 0..t of the same sequence. The harness checks ");
        sb.Append("this by changing later tokens; a model that looks ahead is `invalid`.\n");
        sb.Append("- Keep reading the training data through the run context (`NextTrainBatch`). Validating during ");
        sb.Append("training (`ctx.Validate`, which prints the speedrun's `step:{s}/{total} val_loss:... train_time:...` ");
        sb.Append("line) is optional and for your own curves; its loss and the program's own `train_time` are kept ");
        sb.Append("for comparison, never scored.\n");
        sb.Append("- Everything else may change: model, optimizer, schedule, batch size, precision, and your own ILGPU ");
        sb.Append("kernels inside `Train.cs`. Keep the program in this one file.\n");
        sb.Append("- `Train.cs` compiles against the .NET base library, Speedrun.Core, Speedrun.Kernels and ILGPU, and ");
        sb.Append("nothing else: the harness (results store, catalog, runner, scoring) is not available to it.\n\n");
        sb.Append("`API.md` lists that API (tensors and ops named as in PyTorch, `Function` for your own differentiable ");
        sb.Append("ops with your own kernels, optimizers, the run context), with an example of a custom op.\n\n");

        sb.Append("## Timing a run\n\n");
        sb.Append("```\nspeedrun run DIR --track T\n```\n\n");
        sb.Append("`DIR` is this folder. The runner compiles `Train.cs`, runs it in a child process, evaluates the saved ");
        sb.Append("model and reports a verdict (`ok`, `missed_target`, `compile_error`, `crashed`, `timeout`, `diverged`, ");
        sb.Append("`no_metrics`, `invalid`) with the harness's validation loss and train time. Tracks:\n\n");
        sb.Append("| track | device | target val loss | time limit |\n|---|---|---|---|\n");
        foreach (var t in tracks)
            sb.Append(inv, $"| {t.Name} | {t.Device} | {t.TargetValLoss:0.0###} | {t.TimeLimitFor(task.Start.OfficialTimeMinutes):0.##} min |\n");
        sb.Append('\n');

        sb.Append("## Scoring\n\n");
        sb.Append("Only runs with verdict `ok` (final validation loss at or below the track's target) count. The score ");
        sb.Append("is the Fraction of Speedup Recovered:\n\n");
        sb.Append(inv, $"    FSR = (t_{n} - t_agent) / (t_{n} - t_{next})\n\n");
        sb.Append(inv, $"where `t_{n}` and `t_{next}` are the reference train times of records {n} and {next}, calibrated on ");
        sb.Append("the same hardware and track, and `t_agent` is your program's train time as the harness measures it. FSR = 1 matches the human ");
        sb.Append("record; above 1 beats it. A run that fails, is invalid or misses the target scores 0.\n");
        return sb.ToString();
    }
}
