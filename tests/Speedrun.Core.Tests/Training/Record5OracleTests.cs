namespace Speedrun.Core.Tests.Training;

/// <summary>
/// Record 5 (records/05-modern-arch/Train.cs, compiled as the runner compiles it) against its TorchSharp twin in
/// float64: the table padded (1,024 rows, ids below 997, every logit in the softmax), separate c_q/c_k/c_v, rotary
/// with bf16 cos/sin tables then QK-norm (weightless, eps 2^-23), ReLU² (the program's own operator), no branch
/// scale, every RMSNorm at eps 2^-23, tied embedding/head; Muon's NS5 normalising in bf16.
/// </summary>
public class Record5OracleTests(ITestOutputHelper output)
{
    const string Record = "05-modern-arch";

    /// <summary>records.md: AdamW 3.6e-3 (wd 0) on the tied embedding/head, Muon 3.6e-4 × √max(rows, cols),
    /// momentum 0.95 (the program's own rates, held at their peak).</summary>
    static readonly TwinOptimizers Optimizers = new() { Muon = MuonTwin.Record5, MuonLr = 3.6e-4, Adam = [("wte.weight", 3.6e-3)] };

    /// <summary>
    /// Three steps. Measured over seeds 1-4 (two fills each): losses ≤ 5.6e-6, weights ≤ 2.8e-2 of how far they
    /// moved (c_v: as in records 3-4, the spread of bf16 NS5). Tolerances as records 3-4: 3e-5 and 0.12.
    /// </summary>
    static readonly Disagreement TrainingTolerance = MuonRecordOracle.TrainingTolerance;

    [Fact]
    public void StartsFromTheRecordsInitialisation()
    {
        using var ours = new RecordGpt(Record, OracleSizes.Padded, seed: 1);
        InitialWeights.AssertRecordStart(ours, record: 5);
    }

    /// <summary>Measured over seeds 1-6: loss ≤ 5.5e-8, gradients ≤ 1.7e-6 (records 2-4's tolerance, 3e-7 and 5e-6).</summary>
    [Fact]
    public void LossAndEveryGradientMatchTorchSharpAtStepZero()
    {
        var d = ModernRecordOracle.StepZero(Record, OracleSizes.Padded, RotaryGptTwin.Record5);
        output.WriteLine($"step 0: {d}");
        Assert.True(d.Within(RecordOracle.StepZeroTolerance), $"step 0: {d} (tolerance {RecordOracle.StepZeroTolerance})");
    }

    [Fact]
    public void ThreeMuonAndAdamWStepsTrackTorchSharp()
    {
        var d = ModernRecordOracle.Training(Record, OracleSizes.Padded, RotaryGptTwin.Record5, Optimizers);
        output.WriteLine($"3 steps: {d}");
        Assert.True(d.Within(TrainingTolerance), $"3 steps: {d} (tolerance {TrainingTolerance})");
    }

    [Theory]
    [InlineData("no QK-norm")]
    [InlineData("GELU instead of ReLU²")]
    [InlineData("QK-norm before rotary")]
    public void MutatedTwinFails(string mutation)
    {
        var d = ModernRecordOracle.StepZero(Record, OracleSizes.Padded, mutation switch
        {
            "no QK-norm" => RotaryGptTwin.Record5 with { QkNorm = RotaryGptTwin.QkNormPlace.None },
            "GELU instead of ReLU²" => RotaryGptTwin.Record5 with { Mlp = RotaryGptTwin.Activation.GeluErf },
            // Equal in exact arithmetic (a rotation keeps the norm); the bf16 tables' cos² + sin² ≠ 1 tell them apart.
            _ => RotaryGptTwin.Record5 with { QkNorm = RotaryGptTwin.QkNormPlace.BeforeRotary },
        });
        output.WriteLine($"{mutation}: {d}, {d.Ratio(RecordOracle.StepZeroTolerance):F0}x the tolerance");
        Assert.False(d.Within(RecordOracle.StepZeroTolerance), $"a twin with {mutation} still agrees: {d}");
    }
}
