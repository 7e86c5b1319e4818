namespace Speedrun.Core.Tests.Training;

/// <summary>
/// Record 3 (records/03-muon/Train.cs, compiled as the runner compiles it) against its TorchSharp twin in
/// float64: record 2's model; the block matrices trained by the program's own Muon class (buf = m·buf + g,
/// NS5 of g + m·buf in bf16, W −= lr·update), the tied embedding/head by AdamW without weight decay.
/// </summary>
public class Record3OracleTests(ITestOutputHelper output)
{
    const string Record = "03-muon";
    const float AdamLr = 1.8e-3f, MuonLr = 0.018f, Momentum = 0.95f; // the record's rates, held fixed

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
        var d = Training(MuonTwin.Record3);
        output.WriteLine($"3 steps: {d}");
        Assert.True(d.Within(MuonRecordOracle.TrainingTolerance), $"3 steps: {d} (tolerance {MuonRecordOracle.TrainingTolerance})");
    }

    [Theory]
    [InlineData("no Nesterov term")]
    [InlineData("textbook quintic coefficients")]
    public void MutatedTwinFails(string mutation)
    {
        var d = Training(mutation switch
        {
            "no Nesterov term" => MuonTwin.Record3 with { Nesterov = false }, // orthogonalise buf, not g + m·buf
            _ => MuonTwin.Record3 with { Coefficients = (15 / 8.0, -10 / 8.0, 3 / 8.0) }, // converging, not (3.4445, −4.7750, 2.0315)
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
