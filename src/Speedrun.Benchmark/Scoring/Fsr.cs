namespace Speedrun.Benchmark.Scoring;

/// <summary>
/// Fraction of Speedup Recovered for task N: (t_N − t_agent) / (t_N − t_{N+1}), with the reference times of
/// records N and N+1 measured on the same hardware and track. A run whose verdict is not `ok` scores 0
/// (never negative infinity, never dropped); a slower-than-record-N run scores below 0, as in the paper.
/// </summary>
public static class Fsr
{
    public static double Score(double referenceStartMs, double referenceNextMs, double agentMs, string verdict)
    {
        if (verdict != "ok" || !double.IsFinite(agentMs)) return 0;
        double gap = referenceStartMs - referenceNextMs;
        if (!(gap > 0))
            throw new InvalidOperationException(
                $"Reference times show no speedup to recover (t_N = {referenceStartMs:F0} ms, t_N+1 = {referenceNextMs:F0} ms); " +
                "calibrate again with more seeds.");
        return (referenceStartMs - agentMs) / gap;
    }

    /// <summary>One standard deviation of FSR caused by timing noise alone: the spread of a record's own
    /// calibrated times over the speedup being recovered.</summary>
    public static double Noise(double referenceStartMs, double referenceNextMs, double timeStdMs) =>
        timeStdMs / (referenceStartMs - referenceNextMs);
}
