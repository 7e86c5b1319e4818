using System.CommandLine;
using Speedrun.Cli.Support;
using Speedrun.Benchmark.Catalog;
using Speedrun.Benchmark.Runs;
using Speedrun.Core.Training;

namespace Speedrun.Cli.Commands;

/// <summary>`speedrun train RECORD [--track T] [--device D] [--seed S] [--out DIR]`: compile a record's
/// training program, run it in a child process with a progress line, and print the result.</summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var program = new Argument<string>("program") { Description = "A record folder (records/01-llmc-baseline) or a Train.cs file" };
        var track = new Option<string>("--track") { Description = "tiny (CPU, minutes), mini or full", DefaultValueFactory = _ => "tiny" };
        var device = new Option<string?>("--device") { Description = "cpu, cuda or auto (default: the track's device class when present)" };
        var seed = new Option<int>("--seed") { Description = "Seed for initialisation", DefaultValueFactory = _ => 0 };
        var output = new Option<string?>("--out") { Description = "Folder for the run's files (default: runs/<program>-<track>-<time>)" };
        var data = new Option<string?>("--data") { Description = "A folder of shards (*train_*.bin, *val_*.bin) to use instead of the track's data" };
        var command = new Command("train", "Compile and run one training program on a track; prints the speedrun log lines.")
        {
            program, track, device, seed, output, data,
        };
        command.SetAction(parse => Run(parse.GetValue(program)!, parse.GetValue(track)!, parse.GetValue(device),
            parse.GetValue(seed), parse.GetValue(output), parse.GetValue(data)));
        return command;
    }

    static int Run(string programArg, string trackName, string? device, int seed, string? outDir, string? dataDir)
    {
        var programPath = Directory.Exists(programArg) ? Path.Combine(programArg, "Train.cs") : programArg;
        if (!File.Exists(programPath))
        {
            Console.Error.WriteLine($"error: no training program at {programPath} (give a record folder holding Train.cs, or a .cs file)");
            return 2;
        }
        var catalog = BenchmarkCatalog.Load(BenchmarkCatalog.FindRoot(Path.GetDirectoryName(Path.GetFullPath(programPath))));
        Track track;
        try
        {
            track = catalog.GetTrack(trackName);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"error: {e.Message.Split(" (Parameter")[0]}");
            return 2;
        }
        var trackFile = Path.Combine(catalog.TracksDirectory, track.Name + ".json");
        var label = Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(programPath))) ?? "program";
        outDir ??= Path.Combine("runs", $"{label}-{track.Name}-{DateTime.Now:yyyyMMdd-HHmmss}");
        Console.Error.WriteLine($"speedrun train: {programPath} on track '{track.Name}' ({track.Description})");
        var data = dataDir is null
            ? TrackData.Resolve(track, Console.Error)
            : new DataPatterns(Path.Combine(Path.GetFullPath(dataDir), "*train_*.bin"), Path.Combine(Path.GetFullPath(dataDir), "*val_*.bin"));
        device ??= track.DefaultDevice;

        var progress = new ProgressLine(Console.IsErrorRedirected, Console.Out);
        var outcome = ProgramRunner.Run(
            new ProgramRunRequest(programPath, track, trackFile, data, device, seed, outDir,
                TimeSpan.FromMinutes(track.TimeLimitFor(catalog.Records.FirstOrDefault(r =>
                    Path.GetFullPath(r.TrainPath) == Path.GetFullPath(programPath))?.OfficialTimeMinutes))),
            ExecCommand.SelfHosts(),
            onStdout: progress.OnLine,
            onStderr: progress.OnError);
        progress.Done();

        if (outcome.Verdict == ProgramRunner.DataError)
        {
            foreach (var p in outcome.Problems) Console.Error.WriteLine($"error: {p}");
            Console.Error.WriteLine("data_error: the program was not started; fix or rebuild the shards above (`speedrun data`).");
            return 2;
        }
        if (outcome.Verdict == "compile_error")
        {
            foreach (var e in outcome.Compile.Errors) Console.Error.WriteLine(e);
            Console.Error.WriteLine($"compile_error: {outcome.Compile.Errors.Count()} error(s) in {programPath}");
            return 2;
        }
        var r = outcome.Result;
        var line = $"verdict: {outcome.Verdict}";
        if (outcome.ValLoss is { } loss) line += $" | val_loss {loss:F4} (target {track.TargetValLoss})";
        if (outcome.TrainTimeMs is { } ms) line += $" | train_time {ms / 1000:F1} s";
        if (r is not null) line += $" | program's own: train_time {r.TrainTimeMs / 1000:F1} s, {r.NSteps} steps, step_avg {r.StepAvgMs:F2} ms";
        Console.WriteLine(line);
        foreach (var p in outcome.Problems) Console.WriteLine($"  - {p}");
        Console.WriteLine($"files: {Path.GetFullPath(outDir)} (log.txt, results.json, {Checkpoint.FileName}, stdout.txt, stderr.txt)");
        return outcome.Verdict == "ok" ? 0 : 1;
    }
}
