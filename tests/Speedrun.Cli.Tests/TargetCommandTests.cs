using Speedrun.Benchmark.Store;
using Speedrun.Benchmark.Tasks;
using Speedrun.Core.Training;

namespace Speedrun.Cli.Tests;

/// <summary>`speedrun target`: a track's target from the stored calibrations of the records' current programs.</summary>
public sealed class TargetCommandTests : IDisposable
{
    readonly LadderRepo _repo = new();

    public void Dispose() => _repo.Dispose();

    string TrackFile => Path.Combine(_repo.Root, "tracks", "ladder.json");

    void Calibrated(int record, int seed, double valLoss)
    {
        var program = File.ReadAllBytes(Path.Combine(_repo.RecordDir(record), "Train.cs"));
        using var store = ResultsStore.Open(_repo.StorePath);
        store.Add(new RunRecord
        {
            Uid = $"cal-{record}-{seed}", Kind = "calibration", Record = record, Track = LadderRepo.Track, Seed = seed,
            Verdict = valLoss <= 8.1 ? "ok" : "missed_target", ValLoss = valLoss, TrainTimeMs = 1000, Fingerprint = "cpu test",
            SourceSha256 = TaskManifest.Sha256Hex(program), Source = "", StartedAt = DateTimeOffset.UtcNow,
        });
    }

    [Fact]
    public void WritesTheWorstLossPlusTheMarginWithItsProvenance()
    {
        Calibrated(1, 0, 7.21); Calibrated(1, 1, 7.25);
        Calibrated(2, 0, 7.90); Calibrated(2, 1, 7.934);
        var before = Track.Load(TrackFile);

        var result = _repo.Cli("target", "--track", LadderRepo.Track, "--margin", "0.1", "--write");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("target 8.04: record 2's worst 7.9340 + margin 0.1 (seeds 0, 1; now 8.1)", result.Stdout); // 8.034 -> 8.04
        var after = Track.Load(TrackFile);
        Assert.Equal(8.04, after.TargetValLoss);
        Assert.Equal(before with { TargetValLoss = 8.04, TargetCalibration = after.TargetCalibration }, after);
        var provenance = after.TargetCalibration!;
        Assert.Equal([1, 2], provenance.Records);
        Assert.Equal([0, 1], provenance.Seeds);
        Assert.Equal(["cpu test"], provenance.Fingerprints);
        Assert.Equal((2, 7.934, 0.1), (provenance.WeakestRecord, provenance.WeakestValLoss, provenance.Margin));
        Assert.Contains("\"target_calibration\":", File.ReadAllText(TrackFile));
    }

    [Fact]
    public void WithoutWriteTheTrackFileIsLeftAlone()
    {
        Calibrated(1, 0, 7.2); Calibrated(2, 0, 7.9);
        var text = File.ReadAllText(TrackFile);
        var result = _repo.Cli("target", "--track", LadderRepo.Track);
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("target 7.95", result.Stdout);
        Assert.Equal(text, File.ReadAllText(TrackFile));
    }

    [Fact]
    public void ARecordWithoutACalibrationOfItsCurrentProgramIsNamed()
    {
        Calibrated(1, 0, 7.2);
        Calibrated(2, 0, 7.9);
        File.AppendAllText(Path.Combine(_repo.RecordDir(2), "Train.cs"), "\n// edited since its calibration\n");
        var text = File.ReadAllText(TrackFile);
        var result = _repo.Cli("target", "--track", LadderRepo.Track, "--write");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("Record 2 has no ok or missed_target calibration of its current program on track 'ladder'", result.Stderr);
        Assert.Equal(text, File.ReadAllText(TrackFile));
    }
}
