using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Speedrun.Benchmark.Reports;

/// <summary>
/// Writes a <see cref="BenchmarkReport"/> into a new folder: report.md and report.html (self-contained, the
/// plots referenced by relative paths), per track fsr-, loss- and verdicts- PNG plots with the data behind each
/// as CSV next to it, and scores.json. The folder must be new or empty: a report never overwrites files.
/// </summary>
public static class ReportWriter
{
    public const string MarkdownFile = "report.md";
    public const string HtmlFile = "report.html";
    public const string ScoresFile = "scores.json";

    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>The files written, relative to <paramref name="outDir"/>.</summary>
    public static IReadOnlyList<string> Write(BenchmarkReport report, string outDir)
    {
        if (File.Exists(outDir)) throw new IOException($"{outDir} is a file; give a new or empty folder for the report.");
        if (Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any())
            throw new IOException($"{outDir} already exists and is not empty; reports never overwrite files. Choose a new folder.");
        Directory.CreateDirectory(outDir);
        var files = new List<string>();
        void Text(string name, string text)
        {
            File.WriteAllText(Path.Combine(outDir, name), text, new UTF8Encoding(false));
            files.Add(name);
        }

        foreach (var track in report.Tracks)
        {
            ReportPlots.Fsr(track, Path.Combine(outDir, FsrPlot(track)));
            files.Add(FsrPlot(track));
            Text(Path.ChangeExtension(FsrPlot(track), ".csv"), FsrCsv(track));
            ReportPlots.Losses(track, Path.Combine(outDir, LossPlot(track)));
            files.Add(LossPlot(track));
            Text(Path.ChangeExtension(LossPlot(track), ".csv"), LossCsv(track));
            ReportPlots.Verdicts(track, Path.Combine(outDir, VerdictPlot(track)));
            files.Add(VerdictPlot(track));
            Text(Path.ChangeExtension(VerdictPlot(track), ".csv"), VerdictCsv(track));
            ReportPlots.HintLevels(track, Path.Combine(outDir, HintPlot(track)));
            files.Add(HintPlot(track));
            Text(Path.ChangeExtension(HintPlot(track), ".csv"), HintCsv(track));
            if (track.AgentScores.Count > 0) Text(AgentTable(track), AgentCsv(track));
        }
        Text(ScoresFile, JsonSerializer.Serialize(new
        {
            store = report.StorePath,
            created_utc = report.Created,
            tracks = report.Tracks.Select(t => new { track = t.Track, target_val_loss = t.TargetValLoss, scores = t.Scores, agents = t.AgentScores }),
        }, Json) + "\n");
        var document = Document(report);
        Text(MarkdownFile, Markdown(document));
        Text(HtmlFile, Html(document));
        return files;
    }

    public static string FsrPlot(TrackReport t) => $"fsr-{t.Track}.png";
    public static string LossPlot(TrackReport t) => $"loss-{t.Track}.png";
    public static string VerdictPlot(TrackReport t) => $"verdicts-{t.Track}.png";
    public static string HintPlot(TrackReport t) => $"hints-{t.Track}.png";
    /// <summary>FSR by model × scaffold × hint setting (written when the track has `speedrun agent` final runs).</summary>
    public static string AgentTable(TrackReport t) => $"agents-{t.Track}.csv";

    static string AgentCsv(TrackReport track)
    {
        var csv = new Csv("track", "model", "scaffold", "hints", "agent", "tasks", "tasks_scored", "runs", "ok", "verdicts", "mean_fsr", "ci_low", "ci_high");
        foreach (var a in track.AgentScores)
            csv.Row(track.Track, a.Model, a.Scaffold, a.Hints, a.Agent, a.Tasks, a.TasksScored, a.Runs, a.Ok, a.VerdictsText, a.MeanFsr, a.Low, a.High);
        return csv.ToString();
    }

    static string HintCsv(TrackReport track)
    {
        var csv = new Csv("track", "hints", "agent", "tasks", "runs", "mean_fsr", "ci_low", "ci_high");
        foreach (var h in track.HintAggregates) csv.Row(track.Track, h.Hints, h.Agent, h.Tasks, h.Runs, h.MeanFsr, h.Low, h.High);
        return csv.ToString();
    }

    // ---------------------------------------------------------------------------------------------------
    // CSV: the data behind each plot.

    static string FsrCsv(TrackReport track)
    {
        var csv = new Csv("track", "fingerprint", "task", "hints", "agent", "runs", "ok", "mean_fsr", "mean_ci_low", "mean_ci_high",
            "iqm_fsr", "iqm_ci_low", "iqm_ci_high", "noise", "fsr_per_run", "problem");
        foreach (var c in track.Scores.Cells)
            csv.Row(c.Track, c.Fingerprint, c.Task, c.Hints, c.Agent, c.Runs, c.Ok, c.MeanFsr, c.MeanLow, c.MeanHigh, c.Iqm, c.IqmLow, c.IqmHigh,
                c.Noise, string.Join(" ", c.Fsr.Select(f => f.ToString("R", Inv))), c.Problem);
        return csv.ToString();
    }

    static string LossCsv(TrackReport track)
    {
        var csv = new Csv("run", "kind", "record", "hints", "agent", "seed", "verdict", "fingerprint", "step", "train_time_ms", "val_loss");
        foreach (var p in track.Losses)
            csv.Row(p.Uid, p.Kind, p.Record, p.Hints, p.Agent, p.Seed, p.Verdict, p.Fingerprint, p.Step, p.TrainTimeMs, p.ValLoss);
        return csv.ToString();
    }

    static string VerdictCsv(TrackReport track)
    {
        var csv = new Csv("kind", "record", "verdict", "count");
        foreach (var v in track.Verdicts) csv.Row(v.Kind, v.Record, v.Verdict, v.Count);
        return csv.ToString();
    }

    sealed class Csv
    {
        readonly StringBuilder _sb = new();

        public Csv(params string[] header) => Line(header);

        public void Row(params object?[] values) => Line(values.Select(Format));

        void Line(IEnumerable<string> fields) => _sb.Append(string.Join(",", fields.Select(Quote))).Append('\n');

        static string Format(object? v) => v switch
        {
            null => "",
            double d => d.ToString("R", Inv),
            IFormattable f => f.ToString(null, Inv),
            _ => v.ToString() ?? "",
        };

        static string Quote(string s) =>
            s.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;

        public override string ToString() => _sb.ToString();
    }

    // ---------------------------------------------------------------------------------------------------
    // The document, rendered twice: Markdown and HTML.

    abstract record Block;
    sealed record Heading(int Level, string Text) : Block;
    sealed record Paragraph(string Text) : Block;
    sealed record Bullets(IReadOnlyList<string> Items) : Block;
    sealed record Table(IReadOnlyList<string> Header, IReadOnlyList<IReadOnlyList<string>> Rows) : Block;
    sealed record Figure(string Image, string Alt, string Data) : Block;

    static List<Block> Document(BenchmarkReport report)
    {
        var doc = new List<Block>
        {
            new Heading(1, "Speedrun benchmark report"),
            new Paragraph($"Results store: {report.StorePath}. Created {report.Created.ToString("yyyy-MM-dd HH:mm", Inv)} UTC. " +
                          "FSR = (t_N − t_agent) / (t_N − t_N+1), where t_N and t_N+1 are the medians of the calibrated `ok` train " +
                          "times of records N and N+1 on the same track and hardware fingerprint as the agent's runs; a run " +
                          "whose verdict is not `ok` scores 0. Confidence intervals: percentile bootstrap, " +
                          $"{report.Tracks.FirstOrDefault()?.Scores.Resamples ?? 10_000:N0} resamples, seeded."),
        };
        if (report.Tracks.Count == 0) doc.Add(new Paragraph("The store holds no runs for this selection."));
        foreach (var t in report.Tracks)
        {
            doc.Add(new Heading(2, $"Track {t.Track}"));
            doc.Add(new Paragraph($"{t.CalibrationRuns} calibration run(s) and {t.AgentRuns} agent run(s)" +
                                  (t.TargetValLoss is { } target ? $"; target validation loss {target.ToString("0.0###", Inv)}" : "") + "."));
            doc.Add(new Bullets([.. t.Fingerprints.Select(f => $"hardware: {f}")]));

            doc.Add(new Heading(3, "Reference times"));
            if (t.Scores.Tasks.Count == 0)
                doc.Add(new Paragraph("No agent runs on this track, so no task needs reference times."));
            else
                doc.Add(new Table(["task", "hardware", "t_N", "ok calibrations of N", "t_N+1", "ok calibrations of N+1", "FSR noise (1σ)"],
                    [.. t.Scores.Tasks.Select(r => (IReadOnlyList<string>)[
                        $"{r.Task} → {r.NextRecord}", r.Fingerprint, Seconds(r.Start?.MedianMs), Count(r.Start),
                        Seconds(r.Next?.MedianMs), Count(r.Next), Number(r.Noise)])]));

            doc.Add(new Heading(3, "Scores"));
            if (t.Scores.Cells.Count == 0)
                doc.Add(new Paragraph("No agent runs on this track."));
            else
                doc.Add(new Table(["task", "hints", "agent", "runs", "ok", "verdicts", "mean FSR", "95% CI", "IQM", "95% CI", "noise", "unsandboxed"],
                    [.. t.Scores.Cells.Select(c => (IReadOnlyList<string>)[
                        c.Task.ToString(Inv), c.Hints, c.Agent ?? "-", c.Runs.ToString(Inv), c.Ok.ToString(Inv), c.VerdictsText,
                        Number(c.MeanFsr), Interval(c.MeanLow, c.MeanHigh), Number(c.Iqm), Interval(c.IqmLow, c.IqmHigh), Number(c.Noise),
                        c.Unsandboxed.ToString(Inv)])]));
            if (t.Scores.Problems.Count > 0)
            {
                doc.Add(new Paragraph("Cells that could not be scored:"));
                doc.Add(new Bullets(t.Scores.Problems));
            }

            if (t.AgentScores.Count > 0)
            {
                doc.Add(new Heading(3, "Models × scaffolds × hints"));
                doc.Add(new Paragraph("The final runs of `speedrun agent` sessions (agent label MODEL@SCAFFOLD; the search runs are left out), " +
                                      "over every task they ran on: mean FSR is the mean over the scored tasks of each task's mean FSR, with a " +
                                      "hierarchical bootstrap interval (tasks, then each task's calibrations and runs), as in the hint plot. A " +
                                      "session that produced no program leaves `no_program` runs, which score 0. " +
                                      $"Data: {AgentTable(t)}."));
                doc.Add(new Table(["model", "scaffold", "hints", "tasks scored", "runs", "ok", "verdicts", "mean FSR", "95% CI"],
                    [.. t.AgentScores.Select(a => (IReadOnlyList<string>)[
                        a.Model, a.Scaffold, a.Hints, $"{a.TasksScored} of {a.Tasks}", a.Runs.ToString(Inv), a.Ok.ToString(Inv), a.VerdictsText,
                        Number(a.MeanFsr), Interval(a.Low, a.High)])]));
            }

            doc.Add(new Heading(3, "Plots"));
            doc.Add(new Figure(FsrPlot(t), $"FSR per task and hint setting on track {t.Track}", Path.ChangeExtension(FsrPlot(t), ".csv")));
            doc.Add(new Figure(LossPlot(t), $"Validation loss against training time on track {t.Track}", Path.ChangeExtension(LossPlot(t), ".csv")));
            doc.Add(new Figure(VerdictPlot(t), $"Verdict counts on track {t.Track}", Path.ChangeExtension(VerdictPlot(t), ".csv")));
            doc.Add(new Figure(HintPlot(t), $"FSR by hint setting over tasks on track {t.Track}", Path.ChangeExtension(HintPlot(t), ".csv")));
        }
        return doc;
    }

    static string Seconds(double? ms) => ms is { } v ? (v / 1000).ToString("F2", Inv) + " s" : "—";
    static string Number(double? v) => v is { } d ? d.ToString("F3", Inv) : "—";
    static string Interval(double? low, double? high) => low is { } l && high is { } h ? $"[{l.ToString("F3", Inv)}, {h.ToString("F3", Inv)}]" : "—";
    static string Count(ReferenceTime? r) => r is null ? "0" : $"{r.OkRuns} of {r.Runs}";

    static string Markdown(List<Block> doc)
    {
        var sb = new StringBuilder();
        foreach (var block in doc)
        {
            switch (block)
            {
                case Heading h: sb.Append(new string('#', h.Level)).Append(' ').Append(h.Text).Append("\n\n"); break;
                case Paragraph p: sb.Append(p.Text).Append("\n\n"); break;
                case Bullets b:
                    foreach (var item in b.Items) sb.Append("- ").Append(item).Append('\n');
                    sb.Append('\n');
                    break;
                case Table t:
                    sb.Append("| ").Append(string.Join(" | ", t.Header.Select(Cell))).Append(" |\n");
                    sb.Append('|').Append(string.Concat(t.Header.Select(_ => "---|"))).Append('\n');
                    foreach (var row in t.Rows) sb.Append("| ").Append(string.Join(" | ", row.Select(Cell))).Append(" |\n");
                    sb.Append('\n');
                    break;
                case Figure f:
                    sb.Append($"![{f.Alt}]({f.Image})\n\n{f.Alt}. Data: [{f.Data}]({f.Data})\n\n");
                    break;
            }
        }
        return sb.ToString();

        static string Cell(string s) => s.Replace("|", "\\|").Replace("\n", " ");
    }

    static string Html(List<Block> doc)
    {
        static string E(string s) => WebUtility.HtmlEncode(s);
        var sb = new StringBuilder();
        sb.Append("""
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <title>Speedrun benchmark report</title>
            <style>
            body { font-family: system-ui, sans-serif; max-width: 1000px; margin: 2em auto; padding: 0 1em; color: #222; }
            table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
            th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
            th { background: #f2f2f2; }
            figure { margin: 1.5em 0; }
            img { max-width: 100%; border: 1px solid #eee; }
            figcaption { font-size: 0.9em; color: #555; }
            </style>
            </head>
            <body>

            """);
        foreach (var block in doc)
        {
            switch (block)
            {
                case Heading h: sb.Append($"<h{h.Level}>{E(h.Text)}</h{h.Level}>\n"); break;
                case Paragraph p: sb.Append($"<p>{E(p.Text)}</p>\n"); break;
                case Bullets b:
                    sb.Append("<ul>\n");
                    foreach (var item in b.Items) sb.Append($"<li>{E(item)}</li>\n");
                    sb.Append("</ul>\n");
                    break;
                case Table t:
                    sb.Append("<table>\n<tr>").Append(string.Concat(t.Header.Select(c => $"<th>{E(c)}</th>"))).Append("</tr>\n");
                    foreach (var row in t.Rows) sb.Append("<tr>").Append(string.Concat(row.Select(c => $"<td>{E(c)}</td>"))).Append("</tr>\n");
                    sb.Append("</table>\n");
                    break;
                case Figure f:
                    sb.Append($"<figure><img src=\"{E(f.Image)}\" alt=\"{E(f.Alt)}\"><figcaption>{E(f.Alt)}. Data: " +
                              $"<a href=\"{E(f.Data)}\">{E(f.Data)}</a></figcaption></figure>\n");
                    break;
            }
        }
        sb.Append("</body>\n</html>\n");
        return sb.ToString();
    }
}
