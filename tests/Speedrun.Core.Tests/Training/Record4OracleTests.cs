namespace Speedrun.Core.Tests.Training;

/// <summary>
/// Record 4 (records/04-muon-improvements/Train.cs, compiled as the runner compiles it) against its TorchSharp
/// twin in float64: record 3 with the fused q/k/v gradient (3C × C) orthogonalised as three C × C blocks and
/// every update scaled by √max(rows, cols) (√C for the blocks): W −= lr·scale·update.
/// </summary>
public class Record4OracleTests(ITestOutputHelper output)
{
    const string Record = "04-muon-improvements";
    const float AdamLr = 3.6e-3f, MuonLr = 3.6e-4f, Momentum = 0.95f; // the record's rates, held fixed

    static Disagreement Training(MuonTwin.Options muon) =>
        MuonRecordOracle.Training(Record, muon, AdamLr, MuonLr, Momentum, steps: 3, seed: 2);

    [Fact]
    public void LossAndEveryGradientMatchTorchSharpAtStepZero()
    {
        using var ours = new RecordGpt(Record, new OracleSizes(), seed: 1);
        var d = RecordOracle.StepZero(ours, ours.Twin(), batchSeed: 7);
        output.WriteLine($"step 0: {d}");
        Assert.True(d.Within(RecordOracle.StepZeroTolerance), $"step 0: {d} (tolerance {RecordOracle.StepZeroTolerance})");
    }

    [Fact]
    public void ThreeMuonAndAdamWStepsTrackTorchSharp()
    {
        var d = Training(MuonTwin.Record4);
        output.WriteLine($"3 steps: {d}");
        Assert.True(d.Within(MuonRecordOracle.TrainingTolerance), $"3 steps: {d} (tolerance {MuonRecordOracle.TrainingTolerance})");
    }

    [Theory]
    [InlineData("q/k/v as one matrix")]
    [InlineData("scale sqrt(min(rows, cols))")]
    public void MutatedTwinFails(string mutation)
    {
        var d = Training(mutation switch
        {
            "q/k/v as one matrix" => MuonTwin.Record4 with { SplitQkv = false }, // one NS5 of 3C × C, scale √(3C)
            _ => MuonTwin.Record4 with { Scale = (rows, cols) => Math.Sqrt(Math.Min(rows, cols)) }, // c_fc, mlp c_proj: √C, not √(4C)
        });
        output.WriteLine($"{mutation}: {d}, {d.Ratio(MuonRecordOracle.TrainingTolerance):F1}x the tolerance");
        Assert.False(d.Within(MuonRecordOracle.TrainingTolerance), $"a twin with {mutation} still agrees: {d}");
    }

    [Fact]
    public void SameSeedGivesBitIdenticalLosses()
    {
        float[] Run() => MuonRecordOracle.Losses(Record, AdamLr, MuonLr, Momentum, steps: 4, seed: 3);
        Assert.Equal(Run().Select(BitConverter.SingleToInt32Bits), Run().Select(BitConverter.SingleToInt32Bits));
    }
}
