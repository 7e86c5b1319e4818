using Speedrun.Benchmark.Runs;
using Speedrun.Core.Autograd;
using TorchSharp;
using static Speedrun.Core.Tests.Training.StreamRecordOracle;
using Tensor = Speedrun.Core.Autograd.Tensor;

namespace Speedrun.Core.Tests.Training;

/// <summary>
/// Record 21 (records/21-batch-size/Train.cs) against its bf16 TorchSharp twin (<see cref="StreamGptTwin.Record21"/>):
/// record 20 with training streams of 48K tokens, validation streams of 256K (the rotary tables cover the longer) and
/// the FP8 head's scales retuned to x·2, W·2^9, gradient·2^19. The program runs at record 20's test's settings (6
/// layers, 997-row embeddings, EncoderWindows "LSS", windows of 1, 2, 4 and 6 blocks, 4 at step 0) on training streams
/// of 256 tokens and validation streams of 512, backward from 256/49,152 (the record's per-token gradient, its
/// micro-step loss a mean over 49,152 tokens).
/// </summary>
public class Record21OracleTests(ITestOutputHelper output)
{
    const string Record = "21-batch-size";
    const int FinalWindow = 104, Granule = 8, Steps = 3, WarmupSteps = 2, StepZeroWindowStep = 2;
    const int Tables = 2, WithoutAttention = 3, ValidationTokens = 512;
    const string EncoderWindows = "LSS";

    static readonly (string, object)[] Settings =
    [
        ("AttentionWindow", FinalWindow), ("WindowGranule", Granule), ("Steps", Steps),
        ("ValueEmbeddingTables", Tables), ("LayerWithoutAttention", WithoutAttention), ("EncoderWindows", EncoderWindows),
        ("ValSequenceLength", ValidationTokens),
    ];

    internal static readonly StreamGptTwin.Options Twin21 = StreamGptTwin.Record21 with { EncoderWindows = EncoderWindows };

    /// <summary>The long window in blocks at a step, as <see cref="Record19OracleTests"/>'s.</summary>
    static int BlocksAt(int step) => Math.Max(1, (int)Math.Ceiling((double)(FinalWindow - Granule) * step / Steps / BlockSize));

    static int WindowAt(int step) => BlocksAt(step) * BlockSize;

    /// <summary>The record's per-token gradient at the test's stream length.</summary>
    static readonly float LossGradient = Fp8HeadTwin.RecordGradient(Size.SequenceLength, 48 * 1024);

    /// <summary>
    /// Step 0 in bf16 with the FP8 head (<see cref="StreamRecordOracle.StepZero"/>). Measured over seeds 1-4: loss ≤
    /// 1.0e-4, gradients 0.094-0.113 unexplained (records 19-20: 0.24-0.29; at the record's per-token gradient,
    /// 2^19 leaves more of the gradients in e5m2's subnormals, a larger FP8 effect). Tolerances 2e-4 and 0.45, record
    /// 19's.
    /// </summary>
    static readonly Disagreement StepZeroTolerance = Record19OracleTests.StepZeroTolerance;

    /// <summary>
    /// Three steps (<see cref="StreamRecordOracle.Training"/>). Measured over seeds 2-7: losses ≤ 4.7e-4, weights ≤
    /// 7.3e-2 of how far they moved (the value-embedding tables). Tolerances 1e-3 and 0.15, record 19's.
    /// </summary>
    static readonly Disagreement TrainingTolerance = Record19OracleTests.TrainingTolerance;

    /// <summary>The evaluation of a validation stream: the loss's relative error. Measured over seeds 1-4: 2.3e-7 to
    /// 1.4e-5. Tolerance 5e-5, the bf16 step 0's.</summary>
    const double ValidationTolerance = 5e-5;

    [Fact]
    public void StartsFromTheRecordsInitialisation()
    {
        using var ours = new RecordGpt(Record, Record19OracleTests.Size19, seed: 1, Settings);
        Assert.Equal(MatmulPrecision.BF16, ours.Precision);
        var defaults = ours.Program.Hyperparameters();
        Assert.Equal((48 * 1024, 256 * 1024),
            (LoadedProgram.Get<int>(defaults, "SequenceLength"), LoadedProgram.Get<int>(defaults, "ValSequenceLength")));
        Assert.Equal(Fp8HeadTwin.Scales.Record21, Fp8HeadTwin.Scales.Of(defaults)); // the record's, which the tests keep
        InitialWeights.AssertRecordStart(ours, record: 21);
    }

    /// <summary>The program's Fp8Head at record 21's scales against the twin's (<see cref="Fp8HeadTwin.Compare"/>):
    /// measured over seeds 1-3, y, dx and dW equal; at record 19's scales the twin is 4.0e-2 (y) to 3.6e-1 (dx, dW)
    /// apart. Tolerance 1e-6, record 19's.</summary>
    [Fact]
    public void TheProgramsFp8HeadIsTheTwins()
    {
        using var ours = new RecordGpt(Record, Record19OracleTests.Size19, seed: 1, Settings);
        var same = Fp8HeadTwin.Compare(ours.Program, ours.Device, Fp8HeadTwin.Scales.Record21, Fp8HeadTwin.Scales.Record21, seed: 1);
        var other = Fp8HeadTwin.Compare(ours.Program, ours.Device, Fp8HeadTwin.Scales.Record21, Fp8HeadTwin.Scales.Record19, seed: 1);
        output.WriteLine($"twin at record 21's scales: {same}; at record 19's: {other}");
        Assert.True(same.Worst <= Record19OracleTests.Fp8HeadTolerance, $"the twin at record 21's scales: {same}");
        Assert.True(other.Worst > 100 * Record19OracleTests.Fp8HeadTolerance, $"the twin at record 19's scales agrees: {other}");
    }

    [Fact]
    public void LossAndGradientsMatchTheBf16TwinAtStepZero()
    {
        StreamRecordOracle.AssertAgrees(output, "step 0", StepZero(Twin21), StepZeroTolerance);
    }

    [Fact]
    public void ThreeStepsOfItsOptimizersTrackTorchSharp()
    {
        StreamRecordOracle.AssertAgrees(output, "3 steps", Training().Worst(), TrainingTolerance);
    }

    /// <summary>
    /// Where the FP8 scales decide the head's numbers (<see cref="Fp8HeadTwin.PutTheScalesToTheTest"/>), the gradients of
    /// everything but the head, as <see cref="Record19OracleTests.TheFp8ScalesAreTheRecords"/>: the twin at record 21's
    /// scales agrees (measured over seeds 1-4: loss ≤ 6.3e-7, 0.041-0.050 unexplained), at records 19-20's (W·32,
    /// gradient·2^29) it does not (2.5-2.7, 8.4-9.1x the tolerance). At the ordinary step 0 the two sets of scales
    /// cannot be told apart (0.094-0.113 unexplained either way): every value they scale is a normal fp8 one there, and
    /// powers of two then change nothing.
    /// </summary>
    [Fact]
    public void TheFp8ScalesAreTheRecords()
    {
        var tolerance = Record19OracleTests.ScalesTolerance;
        var record = StepZero(Twin21, scalesMatter: true, compared: Record19OracleTests.IsBody);
        var earlier = StepZero(Twin21 with { Fp8Head = Fp8HeadTwin.Scales.Record19 }, scalesMatter: true,
            compared: Record19OracleTests.IsBody);
        output.WriteLine($"where the scales matter: record 21's {record}; records 19-20's {earlier}, " +
            $"{earlier.Ratio(tolerance):F1}x the tolerance");
        Assert.True(record.Within(tolerance), $"record 21's scales: {record} (tolerance {tolerance})");
        Assert.False(earlier.Within(tolerance), $"records 19-20's scales still agree: {earlier}");
    }

    /// <summary>
    /// A validation stream of hp.ValSequenceLength (512) tokens, twice the training stream, through the evaluation's
    /// bf16 head at the final window (6 blocks long, 3 short): the program's loss against the twin's on the same stream,
    /// whose rotary tables cover 512 positions (the program's cover the longer of its two lengths). Measured over seeds
    /// 1-4: 2.3e-7 to 1.4e-5 apart.
    /// </summary>
    [Fact]
    public void EvaluatesValidationStreamsLongerThanItsTrainingStreams()
    {
        var (loss, expected) = Validation();
        double error = Math.Abs(loss - expected) / expected;
        output.WriteLine($"a {ValidationTokens}-token validation stream: loss {loss} against the twin's {expected:F6}, {error:E2} apart");
        Assert.True(error <= ValidationTolerance, $"validation loss {loss} against the twin's {expected} ({error:E2} apart)");
    }

    /// <summary>The program's and the twin's loss on a validation stream of <see cref="ValidationTokens"/> (seed 7), with
    /// Gpt.Training off and the final window.</summary>
    internal static (float Ours, double Twin) Validation(int seed = 1)
    {
        using var ours = Ours(Record, Record19OracleTests.Size19, seed, Settings);
        ours.Model.GetType().GetProperty("Training")!.SetValue(ours.Model, false);
        SetWindow(ours, ProgramWindowAt(ours, Steps));
        var (inputs, targets) = Stream(seed: 7, length: ValidationTokens);
        float loss;
        using (GradMode.NoGrad())
        using (var scope = new TensorScope())
        using (Autocast.Use(ours.Precision))
            loss = ((Tensor)ours.Model.GetType().GetMethod("Loss")!.Invoke(ours.Model,
                [Tensor.FromArray(ours.Device, inputs, 1, ValidationTokens),
                    Tensor.FromArray(ours.Device, targets, 1, ValidationTokens)])!).Item();
        using var torchScope = torch.NewDisposeScope();
        var twin = new StreamGptTwin(ours.Size with { SequenceLength = ValidationTokens }, WindowAt(Steps), EndOfText,
            ours.Model.NamedParameters().Select(p => (p.Name, p.Value.ToArray(), p.Value.Shape)),
            Twin21 with { Fp8Head = null }); // the evaluation's head
        return (loss, twin.Loss(inputs, targets).item<double>());
    }

    /// <summary>Step 0 with the model at the window its loop sets at <see cref="StepZeroWindowStep"/> (its own
    /// AttentionWindowBlocksAt), the twin at the schedule's (4 blocks long, 2 short), backward from the record's
    /// per-token gradient, or (<paramref name="scalesMatter"/>) where the FP8 scales decide.</summary>
    internal static Disagreement StepZero(StreamGptTwin.Options options, int seed = 1, bool scalesMatter = false,
        Func<string, bool>? compared = null)
    {
        using var ours = Ours(Record, Record19OracleTests.Size19, seed, Settings);
        SetWindow(ours, ProgramWindowAt(ours, StepZeroWindowStep));
        ours.LossGradient = LossGradient;
        if (scalesMatter) Fp8HeadTwin.PutTheScalesToTheTest(ours, seed);
        return StreamRecordOracle.StepZero(ours, WindowAt(StepZeroWindowStep), options, compared: compared);
    }

    /// <summary>Three steps, each side following its own window schedule, backward from the record's per-token
    /// gradient.</summary>
    internal static TrainingErrors Training(int seed = 2)
    {
        using var ours = Ours(Record, Record19OracleTests.Size19, seed, [.. Settings, ("MomentumWarmupSteps", WarmupSteps)]);
        ours.LossGradient = LossGradient;
        return StreamRecordOracle.Training(ours, Twin(ours, WindowAt(0), Twin21), Record20OracleTests.Optimizers, Steps, WindowAt);
    }
}
