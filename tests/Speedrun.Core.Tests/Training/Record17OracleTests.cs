using Speedrun.Core.Autograd;
using TorchSharp;
using static Speedrun.Core.Tests.Training.StreamRecordOracle;
using Tensor = Speedrun.Core.Autograd.Tensor;

namespace Speedrun.Core.Tests.Training;

/// <summary>
/// Record 17 (records/17-sparsify-embeds/Train.cs) against its bf16 TorchSharp twin (<see cref="StreamGptTwin.Record17"/>):
/// record 16 with value-embedding tables for the first and last hp.ValueEmbeddingTables layers only (tables 0, 1, …
/// in both, the layers between mixing v = λ0·v), half-truncated rotary (frequencies (1/1024)^(j/(D/4 − 1)) for
/// j &lt; D/4, then zeros; angles in fp32, tables in bf16), no attention in layer hp.LayerWithoutAttention, and the
/// token and value embeddings at hp.Vocab rows with a head of hp.HeadRows (the next multiple of 128). The program
/// runs at 6 layers, 2 tables and layer 3 without attention (the record's 12, 3 and 7), so that the layers read
/// [ve0, ve1, none, no attention, ve0, ve1]: layer 2 attends without a value embedding, and the decoder's last two
/// layers show the tables' order (not mirrored); and at a vocabulary of 997 rows with a head of 1,024, whose 27
/// padding rows are in the softmax. Windows as <see cref="Record16OracleTests"/>: 1, 2, 3, 4 blocks, 3 at step 0.
/// </summary>
public class Record17OracleTests(ITestOutputHelper output)
{
    const string Record = "17-sparsify-embeds";
    const int FinalWindow = 56, Granule = 8, Steps = 3, WarmupSteps = 2, StepZeroWindowStep = 2;
    const int Tables = 2, WithoutAttention = 3;

    /// <summary>6 layers; the embeddings 997 rows (the stream's tokens lie below 997), the head 1,024.</summary>
    static readonly OracleSizes Size17 = Size with { Layers = 6, Vocab = 997 };

    static readonly (string, object)[] Settings =
    [
        ("AttentionWindow", FinalWindow), ("WindowGranule", Granule), ("Steps", Steps),
        ("ValueEmbeddingTables", Tables), ("LayerWithoutAttention", WithoutAttention),
    ];

    /// <summary>The window in blocks records.md gives for a step (as in <see cref="Record16OracleTests"/>), as tokens.</summary>
    static int WindowAt(int step) => BlockSize * (int)Math.Floor((BlockSize + (double)(FinalWindow - Granule) * step / Steps) / BlockSize);

    /// <summary>records.md: record 16's optimizers, the tables in the embedding's group.</summary>
    internal static readonly TwinOptimizers Optimizers = TwinOptimizers.Records9To11(MuonTwin.Record15, muonLr: 0.05, embeddingLr: 0.6,
        headLr: 0.008, scalarLr: 0.04, WarmupSteps, roundBf16: true) with
    {
        AdamBeta1 = 0.8, Adam = [("wte.weight", 0.6), ("ve.0.weight", 0.6), ("ve.1.weight", 0.6), ("lm_head.weight", 0.008)],
    };

    /// <summary>
    /// Step 0 in bf16 (<see cref="StreamRecordOracle.StepZero"/>). Measured over seeds 1-4: loss ≤ 3.9e-5, gradients
    /// 0.40-0.54 unexplained. The 6 layers, not the record's changes, take it past records 12-16's 0.27-0.42: the same
    /// program at 4 layers (one table, layer 2 without attention) leaves 0.38-0.42, record 16 at 6 layers 0.34-0.53.
    /// Tolerances 1e-4 and 0.75 (record 12's 5e-5 and 0.6 for the depth).
    /// </summary>
    static readonly Disagreement StepZeroTolerance = new(Loss: 1e-4, Tensors: 0.75);

    /// <summary>
    /// Three steps (<see cref="StreamRecordOracle.Training"/>). Measured over seeds 2-7: losses ≤ 3.4e-4, weights ≤
    /// 6.7e-2 of how far they moved (ve.0, which layers 0 and 4 both train). Tolerances 5e-4 and 0.15, record 12's.
    /// </summary>
    static readonly Disagreement TrainingTolerance = new(Loss: 5e-4, Tensors: 0.15);

    [Fact]
    public void StartsFromTheRecordsInitialisation()
    {
        using var ours = new RecordGpt(Record, Size17, seed: 1, Settings);
        Assert.Equal(MatmulPrecision.BF16, ours.Precision);
        InitialWeights.AssertRecordStart(ours, record: 17);
    }

    /// <summary>
    /// The program's rotary tables at the record's own size (65,536 positions, head size 128) against the twin's
    /// (torch.linspace's exponents, fp32 angles, bf16 tables, as the record). Measured: 2 cos entries and no sin entry
    /// of 4.2M differ, by one bf16 step (from an fp32 cos an ulp apart at a rounding boundary). With the exponents taken as
    /// j/31 in fp32, where torch.linspace(0, 1, 32) computes the upper half back from the end, four frequencies were an
    /// ulp off and 13,779 cos and 13,885 sin entries differed. Allowed: one bf16 step in at most 1 entry in 100,000.
    /// Record 16's full-width, bf16-angle tables differ in 99% of the entries (4,142,757 cos, 4,186,566 sin).
    /// </summary>
    [Fact]
    public void TheRotaryTablesAreTheHalfTruncatedOnes()
    {
        const int positions = 65536, headDim = 128;
        using var ours = new RecordGpt(Record, Size17, seed: 1, Settings);
        var tables = Activator.CreateInstance(ours.Program.Type("RotaryTables"), ours.Device, positions, headDim, 1024f)!;
        using var scope = torch.NewDisposeScope();
        var half = StreamGptTwin.RotaryTables(positions, headDim, StreamGptTwin.RotaryAngles.Fp32, StreamGptTwin.RotaryFrequencies.HalfTruncated);
        var full = StreamGptTwin.RotaryTables(positions, headDim, StreamGptTwin.RotaryAngles.Bf16);
        foreach (var (name, want, record16, still) in new[] { ("Cos", half.Cos, full.Cos, 1.0), ("Sin", half.Sin, full.Sin, 0.0) })
        {
            var program = Speedrun.Benchmark.Runs.LoadedProgram.Get<Tensor>(tables, name).ToArray();
            var got = torch.tensor(program.Select(v => (double)v).ToArray(), want.shape);
            long differ = got.ne(want).sum().item<long>(), differ16 = got.ne(record16).sum().item<long>();
            double largest = (got - want).abs().max().item<double>();
            output.WriteLine($"{name}: {differ} of {got.numel()} entries differ from the twin's (largest by {largest:E2}); " +
                $"{differ16} from record 16's table");
            Assert.True(largest <= Math.Pow(2, -8) && differ <= got.numel() / 100_000, $"{name}: {differ} entries differ, by up to {largest}");
            Assert.True(differ16 > got.numel() / 2, $"{name}: record 16's table differs in only {differ16} entries");
            // The second quarter of the pairs does not rotate: cos 1, sin 0 at every position.
            Assert.True(got.narrow(1, headDim / 4, headDim / 4).eq(still).all().item<bool>(), $"{name}: the second quarter rotates");
        }
    }

    [Fact]
    public void LossAndGradientsMatchTheBf16TwinAtStepZero()
    {
        StreamRecordOracle.AssertAgrees(output, "step 0", StepZero(StreamGptTwin.Record17), StepZeroTolerance);
    }

    [Fact]
    public void ThreeStepsOfItsOptimizersTrackTorchSharp()
    {
        StreamRecordOracle.AssertAgrees(output, "3 steps", Training(Optimizers).Worst(), TrainingTolerance);
    }

    /// <summary>Measured over seeds 1-4 (unexplained fraction of the bf16 effect): record 16's rotary (every pair
    /// rotating, base 10000, bf16 angles), 18.7-18.8 (25x the tolerance); attention in layer 3 as well (the weights of
    /// the program built with attention everywhere), 3.4-3.7 (4.6-4.9x); table 0 mixed into layer 2 as well, 12.5-13.0
    /// (17x); the decoder's last two layers using tables 1, 0 (mirrored, as record 16) rather than 0, 1, 11.1-11.8
    /// (14.8-15.7x).</summary>
    [Theory]
    [InlineData("record 16's full rotary")]
    [InlineData("attention in the layer without")]
    [InlineData("a value embedding in a middle layer")]
    [InlineData("the last layers' tables mirrored")]
    public void MutatedTwinFails(string mutation)
    {
        static int? Layout(int layer) =>
            StreamGptTwin.ValueEmbeddingOf(StreamGptTwin.ValueEmbeddingLayout.FirstAndLast, layer, Size17.Layers, Tables);
        var d = mutation switch
        {
            "record 16's full rotary" => StepZero(StreamGptTwin.Record17 with
            {
                Frequencies = StreamGptTwin.RotaryFrequencies.Full, Angles = StreamGptTwin.RotaryAngles.Bf16,
            }),
            "attention in the layer without" => StepZero(StreamGptTwin.Record17, attentionEverywhere: true),
            "a value embedding in a middle layer" => StepZero(StreamGptTwin.Record17 with { ValueEmbeddingSlice = l => l == 2 ? 0 : Layout(l) }),
            _ => StepZero(StreamGptTwin.Record17 with { ValueEmbeddingSlice = l => l >= Size17.Layers - Tables ? Size17.Layers - 1 - l : Layout(l) }),
        };
        output.WriteLine($"{mutation}: {d}, {d.Ratio(StepZeroTolerance):F1}x the tolerance");
        Assert.False(d.Within(StepZeroTolerance), $"a twin with {mutation} still agrees: {d}");
    }

    /// <summary>Step 0 with the model at the window its loop sets at <see cref="StepZeroWindowStep"/> (its own
    /// AttentionWindowBlocksAt), the twin at the schedule's (3 blocks). <paramref name="attentionEverywhere"/>: the twin
    /// also gets attention parameters for layer <see cref="WithoutAttention"/> (those of the same program built with
    /// attention in every layer, its zero c_proj filled), and so attends there.</summary>
    internal static Disagreement StepZero(StreamGptTwin.Options options, int seed = 1, bool attentionEverywhere = false)
    {
        using var ours = Ours(Record, Size17, seed, Settings);
        SetWindow(ours, ProgramWindowAt(ours, StepZeroWindowStep));
        if (!attentionEverywhere) return StreamRecordOracle.StepZero(ours, WindowAt(StepZeroWindowStep), options);
        using var everywhere = Ours(Record, Size17, seed, [.. Settings, ("LayerWithoutAttention", -1)]);
        var extra = everywhere.Model.NamedParameters().Where(p => p.Name.StartsWith($"h.{WithoutAttention}.attn."))
            .Select(p => (p.Name, p.Value.ToArray(), p.Value.Shape)).ToList();
        Assert.Equal(5, extra.Count); // q, k, v, c_proj and the value λs
        return StreamRecordOracle.StepZero(ours, WindowAt(StepZeroWindowStep), options, extra);
    }

    /// <summary>Three steps, each side following its own window schedule.</summary>
    internal static TrainingErrors Training(TwinOptimizers optimizers, int seed = 2)
    {
        using var ours = Ours(Record, Size17, seed, [.. Settings, ("MomentumWarmupSteps", WarmupSteps)]);
        return StreamRecordOracle.Training(ours, Twin(ours, WindowAt(0), StreamGptTwin.Record17), optimizers, Steps, WindowAt);
    }
}
