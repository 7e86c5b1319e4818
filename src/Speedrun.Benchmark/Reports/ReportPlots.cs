using ScottPlot;
using Speedrun.Benchmark.Store;

namespace Speedrun.Benchmark.Reports;

/// <summary>The report's PNG plots, drawn headless with ScottPlot from a <see cref="TrackReport"/>.</summary>
public static class ReportPlots
{
    public const int Width = 960, Height = 540;

    static readonly IPalette Palette = new ScottPlot.Palettes.Category10();

    /// <summary>A fixed colour per verdict, so that plots of different reports read alike.</summary>
    public static Color VerdictColor(string verdict) => verdict switch
    {
        "ok" => Color.FromHex("#2ca02c"),
        "missed_target" => Color.FromHex("#ff7f0e"),
        "compile_error" => Color.FromHex("#9467bd"),
        "crashed" => Color.FromHex("#d62728"),
        "timeout" => Color.FromHex("#8c564b"),
        "diverged" => Color.FromHex("#e377c2"),
        "no_metrics" => Color.FromHex("#7f7f7f"),
        "invalid" => Color.FromHex("#17becf"),
        "no_program" => Color.FromHex("#bcbd22"),
        _ => Color.FromHex("#000000"),
    };

    /// <summary>Mean FSR per task (groups) and hint setting (bars), with the 95% bootstrap CI as error bars, a
    /// dashed line at FSR = 1 (the human record) and one at 0 (no speedup).</summary>
    public static void Fsr(TrackReport track, string path)
    {
        var plot = new Plot();
        var cells = track.Scores.Cells.Where(c => c.MeanFsr is not null).ToList();
        // One bar series per hint setting and agent.
        var hints = cells.Select(c => (c.Hints, c.Agent)).Distinct().OrderBy(h => ScoreBoard.HintOrder(h.Hints))
            .ThenBy(h => h.Hints, StringComparer.Ordinal).ThenBy(h => h.Agent ?? "", StringComparer.Ordinal).ToList();
        var groups = cells.Select(c => (c.Task, c.Fingerprint)).Distinct().OrderBy(g => g.Task).ThenBy(g => g.Fingerprint, StringComparer.Ordinal).ToList();
        bool severalMachines = groups.Select(g => g.Fingerprint).Distinct().Count() > 1;
        double slot = 0.8 / Math.Max(1, hints.Count);
        var bars = new List<Bar>();
        foreach (var cell in cells)
        {
            int g = groups.IndexOf((cell.Task, cell.Fingerprint));
            int h = hints.IndexOf((cell.Hints, cell.Agent));
            double x = g + (h - (hints.Count - 1) / 2.0) * slot;
            bars.Add(new Bar { Position = x, Value = cell.MeanFsr!.Value, Size = slot * 0.9, FillColor = Palette.GetColor(h) });
            if (cell.MeanLow is { } low && cell.MeanHigh is { } high)
            {
                ErrorSegment(plot, x, low, x, high);
                ErrorSegment(plot, x - slot * 0.2, low, x + slot * 0.2, low);
                ErrorSegment(plot, x - slot * 0.2, high, x + slot * 0.2, high);
            }
        }
        if (bars.Count > 0) plot.Add.Bars(bars);
        var one = plot.Add.HorizontalLine(1);
        one.LinePattern = LinePattern.Dashed;
        one.Color = Colors.Black;
        var zero = plot.Add.HorizontalLine(0);
        zero.Color = Colors.Gray;
        for (int h = 0; h < hints.Count; h++)
            plot.Legend.ManualItems.Add(new LegendItem
            {
                LabelText = $"hints {hints[h].Hints}{(hints[h].Agent is { } agent ? $", {agent}" : "")}", FillColor = Palette.GetColor(h),
            });
        if (hints.Count > 0) plot.ShowLegend(Alignment.UpperRight);
        plot.Axes.Bottom.SetTicks(
            [.. groups.Select((_, i) => (double)i)],
            [.. groups.Select(g => severalMachines ? $"task {g.Task}\n{Short(g.Fingerprint)}" : $"task {g.Task}")]);
        plot.Axes.SetLimitsX(-0.6, Math.Max(1, groups.Count) - 0.4);
        plot.Title(cells.Count > 0
            ? $"FSR per task and hint setting, track {track.Track} (mean, 95% bootstrap CI)"
            : $"FSR, track {track.Track}: no cell could be scored (see the report)");
        plot.YLabel("fraction of speedup recovered");
        plot.SavePng(path, Width, Height);
    }

    /// <summary>Mean FSR over tasks per hint setting (and agent), with the hierarchical bootstrap interval as error
    /// bars, and dashed lines at 1 and 0, as the paper's hint-level comparison.</summary>
    public static void HintLevels(TrackReport track, string path)
    {
        var plot = new Plot();
        var rows = track.HintAggregates;
        var bars = rows.Select((h, i) => new Bar { Position = i, Value = h.MeanFsr, Size = 0.6, FillColor = Palette.GetColor(i) }).ToList();
        if (bars.Count > 0) plot.Add.Bars(bars);
        for (int i = 0; i < rows.Count; i++)
        {
            var h = rows[i];
            ErrorSegment(plot, i, h.Low, i, h.High);
            ErrorSegment(plot, i - 0.12, h.Low, i + 0.12, h.Low);
            ErrorSegment(plot, i - 0.12, h.High, i + 0.12, h.High);
        }
        var one = plot.Add.HorizontalLine(1);
        one.LinePattern = LinePattern.Dashed;
        one.Color = Colors.Black;
        var zero = plot.Add.HorizontalLine(0);
        zero.Color = Colors.Gray;
        plot.Axes.Bottom.SetTicks([.. rows.Select((_, i) => (double)i)],
            [.. rows.Select(h => $"hints {h.Hints}{(h.Agent is { } a ? $"\n{a}" : "")}\n{h.Tasks} task(s)")]);
        plot.Axes.SetLimitsX(-0.6, Math.Max(1, rows.Count) - 0.4);
        plot.Title(rows.Count > 0
            ? $"FSR by hint setting over tasks, track {track.Track} (mean, 95% hierarchical bootstrap CI)"
            : $"FSR by hint setting, track {track.Track}: nothing scored");
        plot.YLabel("fraction of speedup recovered");
        plot.SavePng(path, Width, Height);
    }

    static void ErrorSegment(Plot plot, double x1, double y1, double x2, double y2)
    {
        var line = plot.Add.Line(x1, y1, x2, y2);
        line.Color = Colors.Black;
        line.LineWidth = 1.5f;
    }

    /// <summary>Validation loss against train_time for every run: calibrations as solid lines (a colour per
    /// record), agent runs dashed (a colour per task and hint setting); the track's target as a dotted line.</summary>
    public static void Losses(TrackReport track, string path)
    {
        var plot = new Plot();
        var series = track.Losses.Select(p => (p.Kind, p.Series)).Distinct()
            .OrderBy(s => s.Kind == RunLabel.Calibration ? 0 : 1).ThenBy(s => s.Series, StringComparer.Ordinal).ToList();
        var labelled = new HashSet<string>();
        foreach (var run in track.Losses.GroupBy(p => p.Uid).OrderBy(g => series.IndexOf((g.First().Kind, g.First().Series))))
        {
            var points = run.Where(p => p.ValLoss is not null).OrderBy(p => p.Step).ToList();
            if (points.Count == 0) continue;
            var first = points[0];
            var scatter = plot.Add.Scatter(points.Select(p => p.TrainTimeMs / 1000).ToArray(), points.Select(p => p.ValLoss!.Value).ToArray());
            scatter.Color = Palette.GetColor(series.IndexOf((first.Kind, first.Series)));
            scatter.LinePattern = first.Kind == RunLabel.Calibration ? LinePattern.Solid : LinePattern.Dashed;
            scatter.LineWidth = 1.5f;
            scatter.MarkerSize = 4;
            if (labelled.Add(first.Series)) scatter.LegendText = first.Series;
        }
        if (track.TargetValLoss is { } target)
        {
            var line = plot.Add.HorizontalLine(target);
            line.LinePattern = LinePattern.Dotted;
            line.Color = Colors.Black;
            line.LegendText = $"target {target:0.0###}";
        }
        if (labelled.Count > 0) plot.ShowLegend(Alignment.UpperRight);
        plot.Title($"Validation loss against training time, track {track.Track}");
        plot.XLabel("train_time (s)");
        plot.YLabel("validation loss");
        plot.SavePng(path, Width, Height);
    }

    /// <summary>Verdict counts as stacked bars: one bar per task (agent runs) and per calibrated record.</summary>
    public static void Verdicts(TrackReport track, string path)
    {
        var plot = new Plot();
        var groups = track.Verdicts.Select(v => (v.Kind, v.Record)).Distinct().ToList();
        var bars = new List<Bar>();
        var seen = new List<string>();
        for (int g = 0; g < groups.Count; g++)
        {
            double stacked = 0;
            foreach (var v in track.Verdicts.Where(v => (v.Kind, v.Record) == groups[g]))
            {
                bars.Add(new Bar { Position = g, ValueBase = stacked, Value = stacked + v.Count, FillColor = VerdictColor(v.Verdict), Size = 0.6 });
                stacked += v.Count;
                if (!seen.Contains(v.Verdict)) seen.Add(v.Verdict);
            }
        }
        if (bars.Count > 0) plot.Add.Bars(bars);
        foreach (var verdict in seen.OrderBy(v => Array.IndexOf(Runs.ProgramRunner.Verdicts, v)))
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = verdict, FillColor = VerdictColor(verdict) });
        if (seen.Count > 0) plot.ShowLegend(Alignment.UpperRight);
        plot.Axes.Bottom.SetTicks(
            [.. groups.Select((_, i) => (double)i)],
            [.. groups.Select(g => g.Kind == RunLabel.Calibration ? $"record {g.Record}\n(calibration)" : $"task {g.Record}\n(agent)")]);
        plot.Axes.SetLimitsX(-0.6, Math.Max(1, groups.Count) - 0.4);
        plot.Axes.Margins(bottom: 0);
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
        plot.Title($"Verdicts per task and calibrated record, track {track.Track}");
        plot.YLabel("runs");
        plot.SavePng(path, Width, Height);
    }

    static string Short(string fingerprint) => fingerprint.Length <= 24 ? fingerprint : fingerprint[..23] + "…";
}
