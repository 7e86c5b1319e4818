using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Speedrun.Cli.Support;
using Speedrun.Benchmark.Catalog;
using Speedrun.Benchmark.Scoring;
using Speedrun.Benchmark.Store;
using Speedrun.Benchmark.Tasks;
using Speedrun.Core.Training;

namespace Speedrun.Cli.Commands;

/// <summary>
/// `speedrun target --track T [--margin M] [--write] [--store PATH]`: the track's target from its calibrations:
/// the worst final validation loss any runnable record's calibration reached, plus a margin, rounded up to 0.01
/// (<see cref="TrackTarget"/>). Prints each record's losses, the ladder's order against the official one
/// (<see cref="LadderOrder"/>: Spearman's ρ and the records out of order) and the proposal; --write puts it, with its
/// provenance, into tracks/T.json.
/// </summary>
internal static class TargetCommand
{
    public static Command Create()
    {
        var track = new Option<string>("--track") { Description = "The track whose target to set", Required = true };
        var margin = new Option<double>("--margin") { Description = "Added to the worst record's loss (nats)", DefaultValueFactory = _ => 0.05 };
        var write = new Option<bool>("--write") { Description = "Write the target and its provenance into the track file" };
        var store = new Option<string?>("--store") { Description = $"Results store (default: ${StoreLocation.Variable} or results/speedrun.db in the repository)" };
        var command = new Command("target",
            "Set a track's target from its calibrations: the worst final val_loss of any record, plus a margin.")
        {
            track, margin, write, store,
        };
        command.SetAction(parse => UserErrors.Guard(() =>
            Run(parse.GetValue(track)!, parse.GetValue(margin), parse.GetValue(write), parse.GetValue(store))));
        return command;
    }

    static int Run(string trackName, double margin, bool write, string? storeOption)
    {
        if (!(margin >= 0 && margin <= 10))
            throw new UserError(string.Create(CultureInfo.InvariantCulture, $"--margin is {margin}; give nats between 0 and 10."));
        var catalog = BenchmarkCatalog.LoadDefault();
        var track = catalog.GetTrack(trackName);
        var programs = catalog.Records.Where(r => r.IsRunnable)
            .ToDictionary(r => r.Number, r => TaskManifest.Sha256Hex(File.ReadAllBytes(r.TrainPath)));
        using var store = ResultsStore.Open(StoreLocation.ResolveExisting(storeOption));
        var calibrations = store.Runs(kind: RunLabel.Calibration, track: track.Name);
        var proposal = TrackTarget.Propose(calibrations, track.Name, programs, margin);

        var inv = CultureInfo.InvariantCulture;
        TableView.Write(["record", "runs", "median val_loss", "worst val_loss"],
            proposal.Records.Select(r => (IReadOnlyList<string>)[
                r.Record.ToString(inv), r.Runs.ToString(inv), r.MedianValLoss.ToString("F4", inv), r.WorstValLoss.ToString("F4", inv)]),
            title: $"calibrations of the current programs on track {track.Name}");
        WriteLadderOrder(LadderOrder.Of(calibrations, track.Name, programs,
            catalog.Records.ToDictionary(r => r.Number, r => r.OfficialTimeMinutes)), track.Name);
        if (proposal.MissingRecords.Count > 0)
        {
            bool many = proposal.MissingRecords.Count > 1;
            throw new UserError($"Record{(many ? "s" : "")} {string.Join(", ", proposal.MissingRecords)} {(many ? "have" : "has")} no ok or " +
                                $"missed_target calibration of {(many ? "their" : "its")} current program on track '{track.Name}', so the " +
                                $"target would not cover {(many ? "them" : "it")}. Run `speedrun calibrate --track {track.Name} --seeds 3` first.");
        }
        Console.WriteLine(string.Create(inv,
            $"target {proposal.Target:F2}: record {proposal.WeakestRecord}'s worst {proposal.WeakestValLoss:F4} + margin {margin} " +
            $"(seeds {string.Join(", ", proposal.Seeds)}; now {track.TargetValLoss})"));
        if (!write)
        {
            Console.WriteLine($"Add --write to put it into {Path.Combine(catalog.TracksDirectory, track.Name + ".json")}.");
            return 0;
        }
        var path = Path.Combine(catalog.TracksDirectory, track.Name + ".json");
        var updated = track with
        {
            TargetValLoss = proposal.Target,
            TargetCalibration = new TrackTargetCalibration(DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", inv),
                proposal.Records.Select(r => r.Record).ToList(), proposal.Seeds, proposal.Fingerprints, proposal.WeakestRecord,
                Math.Round(proposal.WeakestValLoss, 4), margin),
        };
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, JsonSerializer.Serialize(updated, Track.Json) + "\n");
        Track.Load(tmp); // what is written must read back
        File.Move(tmp, path, overwrite: true);
        Console.WriteLine($"wrote {path}");
        return 0;
    }

    /// <summary>The track's ladder against the official one: each record's median train time, Spearman's ρ and the
    /// consecutive records whose order the track breaks.</summary>
    static void WriteLadderOrder(LadderOrder ladder, string track)
    {
        var inv = CultureInfo.InvariantCulture;
        TableView.Write(["record", "official min", "runs", "median train min"],
            ladder.Steps.Select(s => (IReadOnlyList<string>)[
                s.Record.ToString(inv), s.OfficialMinutes.ToString("0.###", inv), s.Runs.ToString(inv), s.MedianTrainMinutes.ToString("F2", inv)]),
            title: $"the ladder on track {track}");
        string breaks = ladder.Breaks.Count == 0 ? "none" : string.Join(", ", ladder.Breaks.Select(b => $"{b.Earlier} → {b.Later}"));
        Console.WriteLine(string.Create(inv,
            $"ladder order: Spearman ρ {ladder.Rho:F3} over {ladder.Steps.Count} records (official time against median calibrated " +
            $"train time); not faster than the record before: {breaks}"));
    }
}
