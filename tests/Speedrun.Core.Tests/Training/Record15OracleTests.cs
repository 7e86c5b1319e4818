using Speedrun.Core.Autograd;
using static Speedrun.Core.Tests.Training.StreamRecordOracle;

namespace Speedrun.Core.Tests.Training;

/// <summary>
/// Record 15 (records/15-unet-value-embeds/Train.cs) against its bf16 TorchSharp twin (<see cref="StreamGptTwin.Record15"/>):
/// record 14 with vte cut into Layers/2 slices used over the U-net (encoder layer i slice i, decoder layer L/2 + i
/// slice L/2 − 1 − i: at the test's 4 layers, layers 2 and 3 use slices 1 and 0), v = λ0·v + λ1·ve with two scalars
/// per layer (h.{l}.attn.lambdas), a block mask built by hand (DocumentWindowBlocks: every kept pair partial, within
/// ⌈window/block⌉ blocks, document ranges overlapping) and Muon with lerp momentum. The window settings are record
/// 14's test's: windows 8, 24, 40 and 56 over the three steps, 40 at step 0. None is a whole number of blocks of 16,
/// so each cuts a query block's reach short: at window 16m + 8 the hand-built mask keeps m + 1 blocks, and a query at
/// offset o &lt; 7 of its block loses the 7 − o keys furthest back that the element mask shows (FlexAttention never
/// evaluates the element mask in a block pair the block mask drops).
/// </summary>
public class Record15OracleTests(ITestOutputHelper output)
{
    const string Record = "15-unet-value-embeds";
    const int FinalWindow = 56, Granule = 8, Steps = 3, WarmupSteps = 2, StepZeroWindowStep = 2;

    static readonly (string, object)[] Settings = [("AttentionWindow", FinalWindow), ("WindowGranule", Granule), ("Steps", Steps)];

    /// <summary>The window records.md gives for a step (as in <see cref="Record13OracleTests"/>).</summary>
    static int WindowAt(int step) => Granule * (int)Math.Floor((Granule + (double)(FinalWindow - Granule) * step / Steps) / Granule);

    /// <summary>records.md: record 14's optimizers (vte in the embedding's group), Muon's momentum as lerps.</summary>
    internal static readonly TwinOptimizers Optimizers = TwinOptimizers.Records9To11(MuonTwin.Record15, muonLr: 0.05, embeddingLr: 0.6,
        headLr: 0.008, scalarLr: 0.04, WarmupSteps, roundBf16: true) with
    {
        AdamBeta1 = 0.8, Adam = [("wte.weight", 0.6), ("vte.weight", 0.6), ("lm_head.weight", 0.008)],
    };

    /// <summary>
    /// Step 0 in bf16 (<see cref="StreamRecordOracle.StepZero"/>). Measured over seeds 1-4: loss ≤ 1.9e-5, gradients
    /// 0.29-0.40 unexplained (record 14: 0.38-0.42). Tolerances 5e-5 and 0.6, record 12's.
    /// </summary>
    static readonly Disagreement StepZeroTolerance = new(Loss: 5e-5, Tensors: 0.6);

    /// <summary>
    /// Three steps (<see cref="StreamRecordOracle.Training"/>). Measured over seeds 2-7: weights ≤ 6.8e-2 of how far
    /// they moved (vte, wte or a λ), but for seed 7, where one value λ (h.2.attn.lambdas) ends 0.14 of its reach apart;
    /// losses ≤ 2.0e-4, but 5.6e-4 for seed 7, after that λ. Tolerances 1e-3 (record 12's 5e-4 doubled for seed 7) and
    /// 0.15, record 12's.
    /// </summary>
    static readonly Disagreement TrainingTolerance = new(Loss: 1e-3, Tensors: 0.15);

    [Fact]
    public void StartsFromTheRecordsInitialisation()
    {
        using var ours = new RecordGpt(Record, Size, seed: 1, Settings);
        Assert.Equal(MatmulPrecision.BF16, ours.Precision);
        InitialWeights.AssertRecordStart(ours, record: 15);
    }

    /// <summary>At every window of the schedule the hand-built block mask hides keys the element mask shows, and shows
    /// none it hides, so that the step-0 and training comparisons see the record's semantics, not the element mask's.
    /// Measured on the stream of seed 7: of the pairs the element mask shows, it hides 394 of 1,880 at window 8, 226 of
    /// 4,488 at 24, 152 of 5,947 at 40 (step 0's) and 96 of 6,890 at 56.</summary>
    [Fact]
    public void TheBlockMaskDropsKeysTheWindowReaches()
    {
        using var scope = TorchSharp.torch.NewDisposeScope();
        var (inputs, _) = Stream(seed: 7);
        for (int step = 0; step <= Steps; step++)
        {
            var record = new StreamGptTwin(Size, WindowAt(step), EndOfText, [], StreamGptTwin.Record15).Visible(inputs);
            var element = new StreamGptTwin(Size, WindowAt(step), EndOfText, [], StreamGptTwin.Record15 with { BlockMask = false }).Visible(inputs);
            long shown = element.sum().item<long>(), kept = record.sum().item<long>();
            output.WriteLine($"window {WindowAt(step)}: the element mask shows {shown} pairs, the record's block mask keeps {kept}");
            Assert.True(record.logical_and(element.logical_not()).sum().item<long>() == 0, "the block mask shows a pair the element mask hides");
            Assert.True(kept < shown, $"window {WindowAt(step)}: no key dropped");
        }
    }

    [Fact]
    public void LossAndGradientsMatchTheBf16TwinAtStepZero()
    {
        StreamRecordOracle.AssertAgrees(output, "step 0", StepZero(StreamGptTwin.Record15), StepZeroTolerance);
    }

    [Fact]
    public void ThreeStepsOfItsOptimizersTrackTorchSharp()
    {
        StreamRecordOracle.AssertAgrees(output, "3 steps", Training(Optimizers).Worst(), TrainingTolerance);
    }

    /// <summary>
    /// Step 0, measured over seeds 1-4 (unexplained fraction of the bf16 effect): the decoder using slices 0, 1 rather
    /// than 1, 0, 17.4-17.7 (29x the tolerance); attention under the element mask alone (every key the token window
    /// reaches, as records 12-14's create_block_mask keeps them), 3.4-3.8 (5.6-6.3x; at window 8, 34-36). Three steps,
    /// measured over seeds 2-7: Muon with record 14's momentum, buf ← m·buf + g and g + m·buf, weights 0.34-0.35 apart
    /// (2.2-2.4x): the two forms differ only by the factor 1 − m, which NS5's normalisation undoes at a fixed m, but
    /// the momentum warms up (0.85, 0.9, 0.95 over the three steps), and the lerp buffer then weighs past gradients
    /// (1 − m_before)/(1 − m_now) times more. The other change to Muon, the shape scale applied after the bf16 rounding
    /// rather than before, cannot show: the scale √max(1, rows/cols) is 2 for c_fc (4C × C), exact in bf16, and 1 for
    /// every other block matrix, here and at the record's own sizes.
    /// </summary>
    [Theory]
    [InlineData("value embedding slices not mirrored")]
    [InlineData("the element mask alone")]
    [InlineData("Muon's momentum of record 14")]
    public void MutatedTwinFails(string mutation)
    {
        var (d, tolerance) = mutation switch
        {
            "value embedding slices not mirrored" => (StepZero(StreamGptTwin.Record15 with
            {
                ValueEmbeddingSlice = layer => layer % (Size.Layers / 2),
            }), StepZeroTolerance),
            "the element mask alone" => (StepZero(StreamGptTwin.Record15 with { BlockMask = false }), StepZeroTolerance),
            _ => (Training(Optimizers with { Muon = MuonTwin.Record11 }).Worst(), TrainingTolerance),
        };
        output.WriteLine($"{mutation}: {d}, {d.Ratio(tolerance):F1}x the tolerance");
        Assert.False(d.Within(tolerance), $"a twin with {mutation} still agrees: {d}");
    }

    /// <summary>Step 0 with the model at the window its loop sets at <see cref="StepZeroWindowStep"/> (its own
    /// AttentionWindowAt), the twin at the schedule's (both 40).</summary>
    internal static Disagreement StepZero(StreamGptTwin.Options options, int seed = 1, int windowStep = StepZeroWindowStep)
    {
        using var ours = Ours(Record, seed, Settings);
        SetWindow(ours, ProgramWindowAt(ours, windowStep));
        return StreamRecordOracle.StepZero(ours, WindowAt(windowStep), options);
    }

    /// <summary>Three steps, each side following its own window schedule.</summary>
    internal static TrainingErrors Training(TwinOptimizers optimizers, int seed = 2)
    {
        using var ours = Ours(Record, seed, [.. Settings, ("MomentumWarmupSteps", WarmupSteps)]);
        return StreamRecordOracle.Training(ours, Twin(ours, WindowAt(0), StreamGptTwin.Record15), optimizers, Steps, WindowAt);
    }
}
