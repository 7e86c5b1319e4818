using Speedrun.Benchmark.Reports;
using Speedrun.Benchmark.Store;
using Speedrun.Core.Training;
using Speedrun.Tests.Shared;

namespace Speedrun.Benchmark.Tests.Reports;

/// <summary>The report's files: pages, plots (real PNGs, drawn headless) and the data behind each plot.</summary>
public sealed class ReportWriterTests : IDisposable
{
    readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    static RunRecord Run(int n, string kind, int record, double ms, string verdict = "ok", string? hints = null, string fingerprint = "cpu <test> x2") => new()
    {
        Uid = $"r{n}", Kind = kind, Record = record, Hints = hints, Track = "tiny", Seed = n, Verdict = verdict,
        TrainTimeMs = ms, ValLoss = 4.5, Fingerprint = fingerprint, SourceSha256 = new string('0', 64), Source = "",
        StartedAt = DateTimeOffset.UnixEpoch,
        Validations = [new ValPoint(0, 10.8, 0), new ValPoint(10, 6.0, ms / 2), new ValPoint(20, 4.5, ms)],
    };

    static BenchmarkReport Sample() => BenchmarkReport.Build(
    [
        Run(1, "calibration", 1, 100), Run(2, "calibration", 1, 120), Run(3, "calibration", 2, 70),
        Run(4, "agent", 1, 80, hints: "none"), Run(5, "agent", 1, 100, hints: "none"), Run(6, "agent", 1, 0, "crashed", hints: "1,2"),
    ], track: null, "/tmp/store.db", name => name == "tiny" ? 4.85 : null, resamples: 1000);

    [Fact]
    public void Writes_pages_plots_and_csv()
    {
        var dir = _dir.File("report");
        var files = ReportWriter.Write(Sample(), dir);
        string[] expected = ["fsr-tiny.png", "fsr-tiny.csv", "loss-tiny.png", "loss-tiny.csv", "verdicts-tiny.png", "verdicts-tiny.csv",
            "hints-tiny.png", "hints-tiny.csv",
            "scores.json", "report.md", "report.html"];
        Assert.Equal(expected.Order(), files.Order());
        Assert.Equal(expected.Order(), Directory.GetFiles(dir).Select(Path.GetFileName).Order());
        foreach (var png in expected.Where(f => f.EndsWith(".png")))
            Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A], File.ReadAllBytes(Path.Combine(dir, png))[..8]);

        // t_1 = median(100, 120) = 110, t_2 = 70, gap 40: FSR (110-80)/40 = 0.75 and (110-100)/40 = 0.25, mean 0.5.
        var fsr = File.ReadAllLines(Path.Combine(dir, "fsr-tiny.csv"));
        Assert.Equal("track,fingerprint,task,hints,agent,runs,ok,mean_fsr,mean_ci_low,mean_ci_high,iqm_fsr,iqm_ci_low,iqm_ci_high,noise,fsr_per_run,problem", fsr[0]);
        Assert.StartsWith("tiny,cpu <test> x2,1,none,,2,2,0.5,", fsr[1]); // no agent label: an empty column
        Assert.EndsWith(",0.75 0.25,", fsr[1]);
        Assert.StartsWith("tiny,cpu <test> x2,1,\"1,2\",,1,0,0,0,0,0,0,0,", fsr[2]); // crashed: FSR 0, counted
        Assert.Equal(3, fsr.Length);

        var loss = File.ReadAllLines(Path.Combine(dir, "loss-tiny.csv"));
        Assert.Equal(1 + 6 * 3, loss.Length);
        Assert.Equal("r1,calibration,1,,,1,ok,cpu <test> x2,10,50,6", loss[2]);

        Assert.Equal(["kind,record,verdict,count", "agent,1,ok,2", "agent,1,crashed,1", "calibration,1,ok,2", "calibration,2,ok,1"],
            File.ReadAllLines(Path.Combine(dir, "verdicts-tiny.csv")));

        var md = File.ReadAllText(Path.Combine(dir, "report.md"));
        Assert.Contains("| 1 | none | - | 2 | 2 | ok 2 | 0.500 |", md);
        Assert.Contains("| 1 → 2 | cpu <test> x2 | 0.11 s | 2 of 2 | 0.07 s | 1 of 1 |", md);
        Assert.Contains("![Validation loss against training time on track tiny](loss-tiny.png)", md);
        var html = File.ReadAllText(Path.Combine(dir, "report.html"));
        Assert.Contains("<td>cpu &lt;test&gt; x2</td>", html);
        Assert.Contains("<img src=\"verdicts-tiny.png\"", html);
        Assert.Contains("\"mean_fsr\": 0.5,", File.ReadAllText(Path.Combine(dir, "scores.json")));
    }

    [Fact]
    public void Never_writes_into_a_folder_that_has_files()
    {
        var dir = Directory.CreateDirectory(_dir.File("busy")).FullName;
        File.WriteAllText(Path.Combine(dir, "keep.txt"), "mine");
        var e = Assert.Throws<IOException>(() => ReportWriter.Write(Sample(), dir));
        Assert.Contains("not empty", e.Message);
        Assert.Equal(["keep.txt"], Directory.GetFiles(dir).Select(Path.GetFileName));
        Assert.Equal("mine", File.ReadAllText(Path.Combine(dir, "keep.txt")));
    }
}
