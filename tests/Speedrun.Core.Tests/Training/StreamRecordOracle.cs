using Speedrun.Benchmark.Runs;
using Speedrun.Tests.Torch;
using TorchSharp;

namespace Speedrun.Core.Tests.Training;

/// <summary>
/// What the oracle tests of the stream records (12 and on: one stream a micro-step, attention under a document and
/// window block mask) share: the stream they read, the record's model built and filled, its twin
/// (<see cref="StreamGptTwin"/>), and the two comparisons, step 0 in bf16 and a few steps of training. The record's
/// program runs at blocks of 16 (through its Hyperparameters) on one stream of 256 tokens, so that the stream's 16
/// blocks hold every kind of block pair under a window such as 40 (not a multiple of the block): documents of 12-110
/// tokens, their end-of-text tokens anywhere in a block, make pairs within the window full or partial, and the window
/// cuts pairs two and three blocks back and hides everything further. The head's loss is taken in uneven chunks (80,
/// 80, 80, 16 rows) through F.Checkpoint, as the programs take it at 64K.
/// </summary>
static class StreamRecordOracle
{
    public const int EndOfText = 996, BlockSize = 16;
    const int FillSeed = 1000;

    /// <summary>4 blocks (two each side of the U-net) on one stream of 256 tokens (more than the width, so every
    /// block gradient has full rank).</summary>
    public static OracleSizes Size { get; } = OracleSizes.Padded with { Layers = 4, SequenceLength = 256, Batch = 1 };

    /// <summary>What every stream record's program is set to, besides its window.</summary>
    static readonly (string, object)[] Settings = [("BlockSize", BlockSize), ("EndOfTextToken", EndOfText), ("LossChunkRows", 80)];

    /// <summary>A stream of Size.SequenceLength (or <paramref name="length"/>) + 1 random tokens (never the end-of-text
    /// token by chance) cut into documents of 12-110 tokens, each starting with an end-of-text token; inputs and
    /// next-token targets.</summary>
    public static (int[] Inputs, int[] Targets) Stream(int seed, int? length = null)
    {
        var rng = new Random(seed);
        var tokens = new int[(length ?? Size.SequenceLength) + 1];
        int next = rng.Next(1, 60);
        for (int i = 0; i < tokens.Length; i++)
        {
            if (i == next)
            {
                tokens[i] = EndOfText;
                next += rng.Next(12, 111);
            }
            else
                tokens[i] = rng.Next(EndOfText); // ids below Size.Tokens (997), the end-of-text one excepted
        }
        return (tokens[..^1], tokens[1..]);
    }

    /// <summary>The record's model at <see cref="Size"/>, every zero matrix filled as ModernRecordOracle fills them (so
    /// that no gradient hides behind a zero matrix).</summary>
    public static RecordGpt Ours(string record, int seed, params (string, object)[] settings) => Ours(record, Size, seed, settings);

    /// <summary>The same at another size than <see cref="Size"/> (more layers, another vocabulary; the stream stays
    /// Size.SequenceLength long).</summary>
    public static RecordGpt Ours(string record, OracleSizes size, int seed, params (string, object)[] settings)
    {
        var ours = new RecordGpt(record, size, seed, [.. Settings, .. settings]);
        ours.FillZeroParameters(FillSeed + seed);
        return ours;
    }

    /// <summary>The twin of <paramref name="ours"/> from its current weights, and any <paramref name="extra"/> weights (a
    /// mutation's, e.g. attention in a layer the record has none in).</summary>
    public static StreamGptTwin Twin(RecordGpt ours, int window, StreamGptTwin.Options options,
        IEnumerable<(string Name, float[] Values, int[] Shape)>? extra = null) =>
        new(ours.Size, window, EndOfText,
            ours.Model.NamedParameters().Select(p => (p.Name, p.Value.ToArray(), p.Value.Shape)).Concat(extra ?? []),
            options with { LossGradient = ours.LossGradient }); // backward from the same gradient as ours

    /// <summary>Sets the window of a model whose Gpt has a settable AttentionWindow (records 13-15), or
    /// AttentionWindowBlocks (records 16+: <paramref name="window"/> in blocks), as the training loop does every
    /// step.</summary>
    public static void SetWindow(RecordGpt ours, int window) =>
        ((ours.Model.GetType().GetProperty("AttentionWindowBlocks") ?? ours.Model.GetType().GetProperty("AttentionWindow"))?.SetMethod
            ?? throw new InvalidOperationException("This record's Gpt has no settable AttentionWindow."))
        .Invoke(ours.Model, [window]);

    /// <summary>The window the program's loop sets at a step: its Hyperparameters' AttentionWindowAt(step) (tokens), or
    /// AttentionWindowBlocksAt(step) (records 16+: blocks).</summary>
    public static int ProgramWindowAt(RecordGpt ours, int step) =>
        (int)(ours.Hyperparameters.GetType().GetMethod("AttentionWindowBlocksAt")
            ?? ours.Hyperparameters.GetType().GetMethod("AttentionWindowAt")!).Invoke(ours.Hyperparameters, [step])!;

    /// <summary>
    /// Step 0 as <see cref="RecordOracle.StepZeroBf16"/> measures it, on the stream of seed 7, the twin at
    /// <paramref name="window"/>: the loss's relative error, and ‖g_ours − g_twin‖ / ‖g_twin − g_float64‖ over all
    /// gradients (the fraction of the bf16 emulation's effect left unexplained).
    /// </summary>
    /// <param name="compared">The parameters whose gradients count (all when null).</param>
    public static Disagreement StepZero(RecordGpt ours, int window, StreamGptTwin.Options options,
        IEnumerable<(string Name, float[] Values, int[] Shape)>? extra = null, Func<string, bool>? compared = null)
    {
        using var torchScope = torch.NewDisposeScope();
        var twin = Twin(ours, window, options, extra);
        var unrounded = Twin(ours, window, options with { Bf16Compute = false }, extra);
        var batch = Stream(seed: 7);
        float loss = ours.LossAndBackward(batch);
        var reference = twin.Loss(batch.Inputs, batch.Targets);
        reference.backward();
        unrounded.Loss(batch.Inputs, batch.Targets).backward();
        double expected = reference.item<double>(), unexplained = 0, effect = 0;
        foreach (var (name, p) in ours.Model.NamedParameters().Where(p => compared?.Invoke(p.Name) ?? true))
        {
            var want = Gradient(twin, name, p.Length);
            var without = Gradient(unrounded, name, p.Length);
            var got = p.Grad!.ToArray();
            for (int i = 0; i < want.Length; i++)
            {
                unexplained += (got[i] - want[i]) * (got[i] - want[i]);
                effect += (without[i] - want[i]) * (without[i] - want[i]);
            }
        }
        return new(Math.Abs(loss - expected) / Math.Abs(expected), Math.Sqrt(unexplained / effect));
    }

    /// <summary>A twin parameter's gradient; zeros when the twin did not use it (a mutation may not).</summary>
    static double[] Gradient(StreamGptTwin twin, string name, long length) =>
        twin.Parameters[name].grad is { } grad ? TensorData.Read<double>(grad) : new double[length];

    /// <summary>
    /// <paramref name="steps"/> steps of the record's own optimizers (<see cref="RecordOptimizers"/>) on
    /// <paramref name="ours"/> and of <paramref name="setup"/> on the twin, a new stream each step (seeds 100, 101,
    /// ...), compared as <see cref="RecordOracle.Training(RecordGpt, RotaryGptTwin, int, int, Action{int}, Action{int}, double)"/>
    /// compares: the worst loss before each step and after the last, and each weight against how far the twin moved
    /// it (the scalars against their reach, ScalarLr·steps).
    /// </summary>
    /// <param name="twinWindowAt">Records 13+: the twin's window at each step; the program's is then set from its own
    /// AttentionWindowAt(step), as its loop sets it (the evaluation after the last step included).</param>
    public static TrainingErrors Training(RecordGpt ours, StreamGptTwin twin, TwinOptimizers setup, int steps,
        Func<int, int>? twinWindowAt = null)
    {
        using var torchScope = torch.NewDisposeScope();
        using var optimizers = ours.Optimizers();
        var stepTwin = TwinStep(twin, setup);
        var initial = twin.Parameters.ToDictionary(p => p.Key, p => p.Value.detach().clone());
        double lossError = 0;
        for (int step = 0; step <= steps; step++)
        {
            if (twinWindowAt is not null)
            {
                SetWindow(ours, ProgramWindowAt(ours, step));
                twin.Window = twinWindowAt(step);
            }
            var batch = Stream(seed: 100 + step);
            float loss = ours.LossAndBackward(batch);
            foreach (var p in twin.Parameters.Values) p.grad?.zero_();
            var reference = twin.Loss(batch.Inputs, batch.Targets);
            lossError = Math.Max(lossError, Math.Abs(loss - reference.item<double>()) / Math.Abs(reference.item<double>()));
            if (step == steps) break;
            reference.backward();
            optimizers.Step(step);
            stepTwin(step);
        }

        double reach = setup.ScalarLr!.Value * steps;
        var weights = new List<(string, double)>();
        foreach (var (name, p) in ours.Model.NamedParameters())
        {
            var twinWeight = twin.Parameters[name].detach();
            var ourWeight = torch.tensor(p.ToArray().Select(v => (double)v).ToArray(), twinWeight.shape);
            double moved = (twinWeight - initial[name]).norm().item<double>();
            if (p.Rank < 2) moved = Math.Max(moved, reach * Math.Sqrt(p.Length));
            weights.Add((name, (ourWeight - twinWeight).norm().item<double>() / moved));
        }
        return new(lossError, weights);
    }

    /// <summary>What <see cref="Training"/> measured: the worst loss error, and each weight's error relative to how far
    /// the twin moved it.</summary>
    public sealed record TrainingErrors(double Loss, IReadOnlyList<(string Name, double Error)> Weights)
    {
        /// <summary>The loss error and the worst of the weights <paramref name="compared"/> selects (all when null).</summary>
        public Disagreement Worst(Func<string, bool>? compared = null)
        {
            var worst = Weights.Where(w => compared?.Invoke(w.Name) ?? true).MaxBy(w => w.Error);
            return new(Loss, worst.Error, worst.Name);
        }
    }

    /// <summary>The twin's optimizers, as MuonRecordOracle wires them for records 9-11: Adam on each of
    /// <see cref="TwinOptimizers.Adam"/> (the embeddings and the head), Muon on the block matrices, Adam on the block
    /// scalars and skip weights, then the embeddings and scalars rounded to bf16 (records 18+: the embeddings only,
    /// <see cref="TwinOptimizers.RoundBf16Scalars"/>). Record 18's one Adam with three groups is the same maths as
    /// these (Adam acts on each entry alone); Adam's ε is <see cref="TwinOptimizers.AdamEps"/>; Muon also takes record
    /// 20's (3, C, C) merged q/k/v.</summary>
    static Action<int> TwinStep(StreamGptTwin twin, TwinOptimizers setup)
    {
        var adams = setup.Adam.Select(a => new AdamTwin([twin.Parameters[a.Name]], a.Lr, setup.AdamBeta1, 0.95, setup.AdamEps)).ToList();
        var blocks = twin.Parameters.Where(p => p.Key.StartsWith("h.")).ToList();
        var muon = new MuonTwin(blocks.Where(p => p.Value.dim() >= 2).Select(p => p.Value), setup.MuonLr, setup.Momentum, setup.Muon);
        var scalars = blocks.Where(p => p.Value.dim() < 2).Select(p => p.Value).Append(twin.Parameters["skip_weights"]).ToList();
        var scalarAdam = new AdamTwin(scalars, setup.ScalarLr!.Value, setup.AdamBeta1, 0.95, setup.AdamEps);
        var rounded = twin.Embeddings.Concat(setup.RoundBf16Scalars ? scalars : []).ToList();
        return step =>
        {
            foreach (var adam in adams) adam.Step();
            muon.Momentum = setup.MomentumAt(step);
            muon.Step();
            scalarAdam.Step();
            using (torch.no_grad())
                foreach (var p in rounded) p.copy_(p.to_type(torch.ScalarType.BFloat16).to_type(torch.ScalarType.Float64));
        };
    }

    /// <summary>Logs how far ours and the twin are apart as <paramref name="what"/> (step 0, 3 steps), then asserts it is
    /// within <paramref name="tolerance"/>.</summary>
    public static void AssertAgrees(ITestOutputHelper output, string what, Disagreement d, Disagreement tolerance)
    {
        output.WriteLine($"{what}: {d}");
        Assert.True(d.Within(tolerance), $"{what}: {d} (tolerance {tolerance})");
    }
}
