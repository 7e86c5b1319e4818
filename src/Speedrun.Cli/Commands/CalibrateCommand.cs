using System.CommandLine;
using System.Globalization;
using Speedrun.Cli.Support;
using Speedrun.Benchmark.Catalog;
using Speedrun.Benchmark.Scoring;
using Speedrun.Benchmark.Store;

namespace Speedrun.Cli.Commands;

/// <summary>
/// `speedrun calibrate --track T [--records A..B] [--seeds K] [--resume] [--budget MIN] [--store PATH] ...`: time the
/// reference record programs on this machine, K seeds each, and store them as calibrations: the reference times FSR
/// is computed from. Records without a Train.cs are skipped, and said so. --resume and --budget let a machine lent in
/// short windows calibrate across several calls.
/// </summary>
internal static class CalibrateCommand
{
    public static Command Create()
    {
        var records = new Option<string?>("--records") { Description = "Records to time: N or A..B (default: every runnable record)" };
        var resume = new Option<bool>("--resume")
        {
            Description = "Skip each record and seed the store already has a finished calibration of (same program, track file and machine)",
        };
        var budget = new Option<double?>("--budget")
        {
            Description = "Minutes this call may take: a run that would not end in time (by its earlier runs here) is left for the next call",
        };
        var options = new RunOptions(trackRequired: true);
        options.Seeds.DefaultValueFactory = _ => 3;
        var command = new Command("calibrate",
            "Time the records' own programs on this machine (K seeds each, records interleaved within a seed) and store the reference times.")
        {
            records, resume, budget,
        };
        options.AddTo(command);
        command.SetAction((parse, cancel) =>
            Task.FromResult(UserErrors.Guard(() =>
                Run(parse.GetValue(records), options.Read(parse), parse.GetValue(resume), parse.GetValue(budget), cancel))));
        return command;
    }

    static int Run(string? recordsText, RunOptions.Values options, bool resume, double? budgetMinutes, CancellationToken cancel)
    {
        if (budgetMinutes is { } b && !(b > 0 && b <= RunOptions.MaxTimeoutMinutes))
            throw new UserError(string.Create(CultureInfo.InvariantCulture, $"--budget is {b}; give minutes above 0 and at most a week."));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        // The range is checked before the data or the store is touched.
        var catalog = BenchmarkCatalog.LoadDefault();
        var (first, last) = ParseRange(recordsText, catalog.Records.Count);
        var chosen = catalog.Records.Where(r => r.Number >= first && r.Number <= last).ToList();
        foreach (var r in chosen.Where(r => !r.IsRunnable))
            Console.Error.WriteLine($"skipping record {r.Number} ({r.Name}): {r.TrainPath} does not exist yet");
        var runnable = chosen.Where(r => r.IsRunnable).ToList();
        if (runnable.Count == 0)
            throw new UserError($"No runnable record in {first}..{last}: none has a Train.cs yet. `speedrun records` lists the runnable ones.");
        using var session = BenchmarkSession.Open(options.Session, defaultTrack: "tiny");
        Console.Error.WriteLine($"speedrun calibrate: records {string.Join(", ", runnable.Select(r => r.Number))} on track '{session.Track.Name}', " +
                                $"seeds {options.FirstSeed}..{options.FirstSeed + options.Seeds - 1}, store {session.StorePath}");

        // Seed-major order: the records take turns, so a change in machine load affects them alike.
        var done = new List<RunRecord>();
        int left = 0;
        for (int seed = options.FirstSeed; seed < options.FirstSeed + options.Seeds; seed++)
        {
            foreach (var record in runnable)
            {
                if (resume && session.FindCalibration(record.Number, seed, record.TrainPath) is { } earlier)
                {
                    Console.Error.WriteLine($"record {record.Number}, seed {seed}: already calibrated here ({earlier.Verdict}, {earlier.Uid})");
                    done.Add(earlier);
                    continue;
                }
                // A run that would overrun the budget is left for the next call; an unknown one is tried.
                if (budgetMinutes is { } budget && session.TypicalDuration(record.Number) is { } typical &&
                    clock.Elapsed + typical > TimeSpan.FromMinutes(budget))
                {
                    left++;
                    continue;
                }
                var run = session.Run(record.TrainPath, RunLabel.CalibrationOf(record.Number), seed, record.FolderName, cancel);
                if (run is null) return 130;
                done.Add(run);
            }
        }
        if (left > 0)
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"budget: {left} run(s) would not have ended within {budgetMinutes} minutes and were left; call again with --resume to continue"));

        Console.Error.WriteLine();
        foreach (var record in runnable)
        {
            var runs = done.Where(r => r.Record == record.Number).ToList();
            var times = runs.Where(r => r.Verdict == "ok" && r.TrainTimeMs is not null).Select(r => r.TrainTimeMs!.Value).ToList();
            Console.Error.WriteLine(times.Count == 0
                ? $"record {record.Number}: no ok run of {runs.Count}; it cannot serve as a reference (see the verdicts above)"
                : string.Create(CultureInfo.InvariantCulture,
                    $"record {record.Number}: {times.Count} ok of {runs.Count}, median train_time {Statistics.Median(times) / 1000:F2} s, " +
                    $"std {Statistics.StandardDeviation(times) / 1000:F2} s"));
        }
        return done.All(r => r.Verdict == "ok") ? 0 : 1;
    }

    /// <summary>"N" or "A..B" (inclusive), within 1..<paramref name="count"/>; null means every record.</summary>
    internal static (int First, int Last) ParseRange(string? text, int count)
    {
        if (string.IsNullOrWhiteSpace(text)) return (1, count);
        var parts = text.Split("..");
        bool ok = parts.Length is 1 or 2;
        int first = 0, last = 0;
        ok = ok && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out first);
        ok = ok && int.TryParse(parts[^1], NumberStyles.None, CultureInfo.InvariantCulture, out last);
        if (!ok) throw new UserError($"--records '{text}': give one record number (3) or a range (1..4).");
        if (first < 1 || last > count || first > last)
            throw new UserError($"--records '{text}': records are numbered 1 to {count}; give N or A..B with A <= B in that range.");
        return (first, last);
    }
}
