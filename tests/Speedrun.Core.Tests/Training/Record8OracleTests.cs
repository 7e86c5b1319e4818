namespace Speedrun.Core.Tests.Training;

/// <summary>
/// Record 8 (records/08-untie-embed/Train.cs, compiled as the runner compiles it) against its TorchSharp twin in
/// float64: record 5's model with the embedding untied from a separate head and a weightless RMSNorm right after
/// the lookup; Adam (no weight decay) on the embedding and on the head, each at its rate; the distributed Muon of
/// records 6-7 (run as rank 0 of 1: each scaled update rounded to bf16) with scale √max(1, rows/cols).
/// </summary>
public class Record8OracleTests(ITestOutputHelper output)
{
    const string Record = "08-untie-embed";

    /// <summary>records.md: Adam 0.3 on the embedding and 0.002 on the head, Muon 0.02 × √max(1, rows/cols),
    /// momentum 0.95.</summary>
    static readonly TwinOptimizers Optimizers = new()
    {
        Muon = MuonTwin.Record8, MuonLr = 0.02, Adam = [("wte.weight", 0.3), ("lm_head.weight", 0.002)],
    };

    /// <summary>
    /// Three steps. Measured over seeds 1-4 (two fills each): losses ≤ 1.5e-5, weights ≤ 2.0e-2 of how far they
    /// moved (c_v). Tolerances 8e-5 and 0.12 (records 3-5's weight tolerance).
    /// </summary>
    static readonly Disagreement TrainingTolerance = new(Loss: 8e-5, Tensors: 0.12);

    [Fact]
    public void StartsFromTheRecordsInitialisation()
    {
        using var ours = new RecordGpt(Record, OracleSizes.Padded, seed: 1);
        InitialWeights.AssertRecordStart(ours, record: 8);
    }

    /// <summary>Measured over seeds 1-6: loss ≤ 3.3e-8, gradients ≤ 1.1e-6 (records 2-4's tolerance, 3e-7 and 5e-6).</summary>
    [Fact]
    public void LossAndEveryGradientMatchTorchSharpAtStepZero()
    {
        var d = ModernRecordOracle.StepZero(Record, OracleSizes.Padded, RotaryGptTwin.Record8);
        output.WriteLine($"step 0: {d}");
        Assert.True(d.Within(RecordOracle.StepZeroTolerance), $"step 0: {d} (tolerance {RecordOracle.StepZeroTolerance})");
    }

    [Fact]
    public void ThreeMuonAndAdamStepsTrackTorchSharp()
    {
        var d = ModernRecordOracle.Training(Record, OracleSizes.Padded, RotaryGptTwin.Record8, Optimizers);
        output.WriteLine($"3 steps: {d}");
        Assert.True(d.Within(TrainingTolerance), $"3 steps: {d} (tolerance {TrainingTolerance})");
    }

    [Theory]
    [InlineData("no norm after the embedding")]
    [InlineData("tied head")]
    public void MutatedTwinFails(string mutation)
    {
        var d = ModernRecordOracle.StepZero(Record, OracleSizes.Padded, mutation switch
        {
            "no norm after the embedding" => RotaryGptTwin.Record8 with { NormAfterEmbedding = false },
            _ => RotaryGptTwin.Record8 with { UntiedHead = false }, // logits from wte; lm_head unused
        });
        output.WriteLine($"{mutation}: {d}, {d.Ratio(RecordOracle.StepZeroTolerance):F0}x the tolerance");
        Assert.False(d.Within(RecordOracle.StepZeroTolerance), $"a twin with {mutation} still agrees: {d}");
    }

    [Fact]
    public void TwinWithRecord5sMuonScaleFails()
    {
        var d = ModernRecordOracle.Training(Record, OracleSizes.Padded, RotaryGptTwin.Record8,
            Optimizers with { Muon = MuonTwin.Record8 with { Scale = (rows, cols) => Math.Sqrt(Math.Max(rows, cols)) } });
        output.WriteLine($"scale sqrt(max(rows, cols)): {d}, {d.Ratio(TrainingTolerance):F0}x the tolerance");
        Assert.False(d.Within(TrainingTolerance), $"a twin with record 5's Muon scale still agrees: {d}");
    }
}
