using System.Globalization;
using System.Text.RegularExpressions;

namespace Speedrun.Cli.Support;

/// <summary>
/// Shows a running training program: its validation lines, and a one-line status (step, loss, throughput,
/// elapsed, ETA) that rewrites itself on a terminal. When the status stream is redirected, every line of the
/// program is printed as it comes instead. Program lines go to <paramref name="programOutput"/>; the status
/// line and the program's stderr go to standard error.
/// </summary>
internal sealed partial class ProgressLine(bool plain, TextWriter programOutput)
{
    readonly object _gate = new();
    readonly DateTime _start = DateTime.UtcNow;
    bool _statusShown;
    string _loss = "?";
    double _lastTrainMs;

    [GeneratedRegex(@"^step:(\d+)/(\d+) train_loss:(\S+) train_time:(\d+)ms step_avg:(\S+)ms$")]
    private static partial Regex TrainLine();

    [GeneratedRegex(@"^@progress step=(\d+) total=(\d+) tokens=(\d+) train_ms=([0-9.]+)$")]
    private static partial Regex ProgressRecord();

    /// <summary>stderr: progress records drive the status line; anything else is shown.</summary>
    public void OnError(string line)
    {
        var p = ProgressRecord().Match(line);
        if (!p.Success) { Print(line, Console.Error); return; }
        if (plain) return; // the train line itself was printed
        int step = int.Parse(p.Groups[1].Value, CultureInfo.InvariantCulture), total = int.Parse(p.Groups[2].Value, CultureInfo.InvariantCulture);
        long tokens = long.Parse(p.Groups[3].Value, CultureInfo.InvariantCulture);
        double trainMs = double.Parse(p.Groups[4].Value, CultureInfo.InvariantCulture);
        double stepMs = trainMs - _lastTrainMs;
        _lastTrainMs = trainMs;
        double elapsed = (DateTime.UtcNow - _start).TotalSeconds;
        double eta = elapsed / step * (total - step);
        string rate = stepMs > 0 ? $"{tokens / (stepMs / 1000):N0} tok/s" : "warm-up";
        lock (_gate)
        {
            Console.Error.Write($"\r  step {step}/{total}  loss {_loss}  {rate}  elapsed {elapsed:F0}s  ETA {eta:F0}s     ");
            _statusShown = true;
        }
    }

    /// <summary>stdout: train lines update the status line on a terminal; every other line is shown.</summary>
    public void OnLine(string line)
    {
        var m = TrainLine().Match(line);
        if (!m.Success || plain)
        {
            Print(line, programOutput);
            return;
        }
        _loss = m.Groups[3].Value; // shown by the next progress record
    }

    void Print(string line, TextWriter writer)
    {
        lock (_gate)
        {
            if (_statusShown) { Console.Error.Write("\r" + new string(' ', 100) + "\r"); _statusShown = false; }
            writer.WriteLine(line);
        }
    }

    /// <summary>Ends the status line.</summary>
    public void Done()
    {
        lock (_gate)
        {
            if (_statusShown) Console.Error.WriteLine();
            _statusShown = false;
        }
    }
}
