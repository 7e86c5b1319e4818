using Speedrun.Benchmark.Runs;
using Speedrun.Benchmark.Scoring;

namespace Speedrun.Benchmark.Tests.Scoring;

/// <summary>FSR = (t_N − t_agent)/(t_N − t_N+1), zero for any run that is not ok.</summary>
public sealed class FsrTests
{
    [Theory]
    [InlineData(70, 0.75)]   // (100 − 70)/(100 − 60) = 30/40
    [InlineData(60, 1.0)]    // matches record N+1
    [InlineData(40, 1.5)]    // beats it
    [InlineData(100, 0.0)]   // no faster than record N
    [InlineData(120, -0.5)]  // slower: (100 − 120)/40
    public void Formula(double agentMs, double expected) =>
        Assert.Equal(expected, Fsr.Score(100, 60, agentMs, "ok"), 12);

    [Fact]
    public void Every_verdict_but_ok_scores_zero_however_fast()
    {
        foreach (var verdict in ProgramRunner.Verdicts.Where(v => v != "ok"))
            Assert.Equal(0, Fsr.Score(100, 60, 1, verdict));
        Assert.Equal(0, Fsr.Score(100, 60, double.NaN, "ok"));
    }

    [Fact]
    public void No_gap_to_recover_is_an_error_that_says_to_calibrate()
    {
        var e = Assert.Throws<InvalidOperationException>(() => Fsr.Score(100, 100, 90, "ok"));
        Assert.Contains("calibrate", e.Message);
        Assert.Throws<InvalidOperationException>(() => Fsr.Score(100, 120, 90, "ok"));
    }

    [Fact]
    public void Noise_is_the_time_spread_over_the_gap() =>
        Assert.Equal(0.1, Fsr.Noise(100, 60, 4), 12); // 4 ms std over a 40 ms gap
}
