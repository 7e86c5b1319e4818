namespace Speedrun.Core.Tests.Training;

/// <summary>
/// Record 10 (records/10-cast-bf16/Train.cs, compiled as the runner compiles it) against its TorchSharp twin: record
/// 9 computed in bf16, emulated on both sides by rounding float values to bf16 where the program writes Bf16(...)
/// (each rounding also rounds the gradient passing back through it), products of bf16-rounded operands
/// accumulated in fp32 (ours, MatmulPrecision.BF16 on every device) or float64 (the twin) with the incoming
/// gradient rounded to bf16, the embedding and the λs rounded after every update (Gpt.RoundBf16Parameters).
/// </summary>
public class Record10OracleTests(ITestOutputHelper output)
{
    const string Record = "10-cast-bf16";
    const int WarmupSteps = 2;

    /// <summary>records.md: record 9's rates.</summary>
    static readonly TwinOptimizers Optimizers = TwinOptimizers.Records9To11(MuonTwin.Record8, muonLr: 0.02, embeddingLr: 0.3,
        headLr: 0.002, scalarLr: 0.02, WarmupSteps, roundBf16: true);

    /// <summary>
    /// Step 0 in bf16 (<see cref="RecordOracle.StepZeroBf16"/>). Measured over seeds 1-6 and two fills: loss ≤
    /// 1.5e-5 (the bf16 rounding itself moves it by only 2e-6 to 4e-5, so the loss does not tell roundings
    /// apart); the gradients leave 0.13-0.28 of the bf16 effect unexplained. Tolerances 5e-5 and 0.5. A twin that
    /// does not round the residual stream leaves 1.15-1.18 unexplained, one with unrounded fp32 weights in the
    /// products 1.0; one that rounds only values, not gradients, 0.47-0.49 (too close to tell apart).
    /// </summary>
    static readonly Disagreement StepZeroTolerance = new(Loss: 5e-5, Tensors: 0.5);

    /// <summary>
    /// Three steps. Measured over seeds 1-4 (two fills each): losses ≤ 8.2e-5, weights ≤ 4.2e-2 of how far they
    /// moved (the embedding: ±0.3 an entry per step, rounded to bf16 after each; the λs are measured against
    /// their reach, 0.02·3, see <see cref="MuonRecordOracle.Training(RecordGpt, RotaryGptTwin, TwinOptimizers, int, int)"/>).
    /// Tolerances 3e-4 and 0.15.
    /// </summary>
    static readonly Disagreement TrainingTolerance = new(Loss: 3e-4, Tensors: 0.15);

    [Fact]
    public void StartsFromTheRecordsInitialisation()
    {
        using var ours = new RecordGpt(Record, OracleSizes.Padded, seed: 1);
        Assert.Equal(Speedrun.Core.Autograd.MatmulPrecision.BF16, ours.Precision);
        InitialWeights.AssertRecordStart(ours, record: 10);
    }

    [Fact]
    public void LossAndGradientsMatchTheBf16TwinAtStepZero()
    {
        var d = ModernRecordOracle.StepZero(Record, OracleSizes.Padded, RotaryGptTwin.Record10);
        output.WriteLine($"step 0: {d}");
        Assert.True(d.Within(StepZeroTolerance), $"step 0: {d} (tolerance {StepZeroTolerance})");
    }

    [Fact]
    public void ThreeStepsOfItsOptimizersTrackTorchSharp()
    {
        var d = ModernRecordOracle.Training(Record, OracleSizes.Padded, RotaryGptTwin.Record10, Optimizers,
            settings: ("MomentumWarmupSteps", WarmupSteps));
        output.WriteLine($"3 steps: {d}");
        Assert.True(d.Within(TrainingTolerance), $"3 steps: {d} (tolerance {TrainingTolerance})");
    }

    [Theory]
    [InlineData("no rounding of the residual stream")]
    [InlineData("fp32 weights in the products")]
    public void MutatedTwinFails(string mutation)
    {
        var d = ModernRecordOracle.StepZero(Record, OracleSizes.Padded, mutation switch
        {
            "no rounding of the residual stream" => RotaryGptTwin.Record10 with { RoundResidualStream = false },
            _ => RotaryGptTwin.Record10 with { Bf16Weights = false }, // the fp32 masters not cast for each product
        });
        output.WriteLine($"{mutation}: {d}, {d.Ratio(StepZeroTolerance):F1}x the tolerance");
        Assert.False(d.Within(StepZeroTolerance), $"a twin with {mutation} still agrees: {d}");
    }
}
