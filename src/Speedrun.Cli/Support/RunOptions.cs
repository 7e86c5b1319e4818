using System.CommandLine;

namespace Speedrun.Cli.Support;

/// <summary>The options of `speedrun run` and `speedrun calibrate`.</summary>
internal sealed class RunOptions(bool trackRequired = false)
{
    public readonly Option<string?> Track = new("--track")
    {
        Description = trackRequired ? "Track: tiny (CPU), mini or full (GPU), ..." : "Track: tiny (CPU, the default), mini or full (GPU), ...",
        Required = trackRequired,
    };
    public readonly Option<int> Seeds = new("--seeds") { Description = "Runs, one per seed", DefaultValueFactory = _ => 1 };
    public readonly Option<int> FirstSeed = new("--first-seed") { Description = "The first seed (seeds are S, S+1, ...)", DefaultValueFactory = _ => 0 };
    public readonly Option<double?> Timeout = new("--timeout") { Description = "Wall-clock limit per run in minutes (default: the track's)" };
    public readonly Option<string?> Store = new("--store") { Description = $"Results store (default: ${StoreLocation.Variable} or results/speedrun.db in the repository)" };
    public readonly Option<string?> Device = new("--device") { Description = "cpu, cuda or auto (default: cpu on a CPU track, else auto)" };
    public readonly Option<string?> Runs = new("--runs") { Description = "Folder for the run folders (default: runs/ in the repository)" };

    public sealed record Values(SessionOptions Session, int Seeds, int FirstSeed);

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { Track, Seeds, FirstSeed, Timeout, Store, Device, Runs }) command.Options.Add(option);
    }

    public Values Read(ParseResult parse)
    {
        int seeds = parse.GetValue(Seeds), first = parse.GetValue(FirstSeed);
        if (seeds < 1) throw new UserError($"--seeds is {seeds}; give at least 1.");
        if (first < 0) throw new UserError($"--first-seed is {first}; seeds are 0 or more.");
        return new Values(new SessionOptions(parse.GetValue(Track), parse.GetValue(Device), parse.GetValue(Timeout),
            parse.GetValue(Store), parse.GetValue(Runs)), seeds, first);
    }
}
