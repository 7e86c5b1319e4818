namespace Speedrun.Core.Tests.Training;

/// <summary>
/// The comparisons of records 5-11, whose models start some matrices at zero (attn.c_proj and mlp.c_proj from
/// record 5, the head from record 8). Both comparisons start from the record's weights with those matrices
/// filled (<see cref="RecordGpt.FillZeroParameters"/>; <see cref="InitialWeights"/> checks the zeros): from the
/// zeros, every gradient upstream of a zero matrix is exactly zero at step 0, and in training q, k, v and c_fc
/// would first move at the third step (records 8+), by one NS5 update computed from a gradient that already went
/// through two other NS5 updates, so their weights would agree only to 12-14% after three steps, against 2-3%
/// when every optimizer acts at every step.
/// </summary>
static class ModernRecordOracle
{
    const int FillSeed = 1000;

    /// <summary>Loss and every gradient at step 0 (records 10+: <see cref="RecordOracle.StepZeroBf16"/>).</summary>
    public static Disagreement StepZero(string record, OracleSizes size, RotaryGptTwin.Architecture architecture, int seed = 1)
    {
        using var ours = new RecordGpt(record, size, seed);
        ours.FillZeroParameters(FillSeed + seed);
        return architecture.Bf16Compute
            ? RecordOracle.StepZeroBf16(ours, architecture, batchSeed: 7)
            : RecordOracle.StepZero(ours, ours.Twin(architecture), batchSeed: 7);
    }

    /// <summary>Three steps of the record's own optimizers and of <paramref name="optimizers"/> on the twin.</summary>
    public static Disagreement Training(string record, OracleSizes size, RotaryGptTwin.Architecture architecture,
        TwinOptimizers optimizers, int seed = 2, params (string Name, object Value)[] settings)
    {
        using var ours = new RecordGpt(record, size, seed, settings);
        ours.FillZeroParameters(FillSeed + seed);
        return MuonRecordOracle.Training(ours, ours.Twin(architecture), optimizers, steps: 3);
    }
}
