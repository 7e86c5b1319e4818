using System.CommandLine;
using System.Globalization;

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

    /// <summary>The longest --timeout accepted: a week, far beyond any track, and far inside what a wait can express.</summary>
    public const double MaxTimeoutMinutes = 7 * 24 * 60;

    /// <summary>The options' values, checked: a number out of range is a <see cref="UserError"/> naming the option.</summary>
    public Values Read(ParseResult parse)
    {
        int seeds = parse.GetValue(Seeds), first = parse.GetValue(FirstSeed);
        if (seeds < 1) throw new UserError($"--seeds is {seeds}; give at least 1.");
        if (first < 0) throw new UserError($"--first-seed is {first}; seeds are 0 or more.");
        if ((long)first + seeds - 1 > int.MaxValue)
            throw new UserError($"--first-seed {first} with --seeds {seeds} runs past the largest seed, {int.MaxValue}.");
        var timeout = parse.GetValue(Timeout);
        if (timeout is { } minutes && !(minutes > 0 && minutes <= MaxTimeoutMinutes))
            throw new UserError(string.Create(CultureInfo.InvariantCulture,
                $"--timeout is {minutes}; give minutes above 0 and at most {MaxTimeoutMinutes} (a week)."));
        return new Values(new SessionOptions(parse.GetValue(Track), parse.GetValue(Device), timeout,
            parse.GetValue(Store), parse.GetValue(Runs)), seeds, first);
    }
}
