using Speedrun.Benchmark.Runs;
using Speedrun.Core.Autograd;
using Speedrun.Core.Training.Modules;
using Speedrun.Tests.Torch;
using TorchSharp;
using Tensor = Speedrun.Core.Autograd.Tensor;
using Module = Speedrun.Core.Training.Modules.Module;

namespace Speedrun.Core.Tests.Training;

/// <summary>
/// The tiny configuration the oracle tests of records 2-4 run at: the records' head size (64), a width of two
/// heads, a small vocabulary (not a multiple of 64, so the padded head is exercised). 4 × 64 = 256 tokens a
/// batch, more than the width, so that every block gradient has full rank. With fewer tokens a gradient's null
/// space holds only bf16 rounding noise, which NS5 blows up to singular values near 1, differently on each side:
/// at 2 × 16 tokens the weights after three Muon steps agree with the twin's to 10%, at 4 × 64 to 4-5%.
/// </summary>
sealed record OracleSizes(int Layers = 2, int Dim = 128, int HeadDim = 64, int Vocab = 997, int SequenceLength = 64, int Batch = 4)
{
    /// <summary>Token ids are drawn from [0, Tokens): below Vocab when the table is padded past the real tokens.</summary>
    public int Tokens { get; init; } = Vocab;

    /// <summary>
    /// Records 5-11: the table padded to a multiple of 128 (as 50,257 → 50,304) with ids drawn below 997, so the
    /// padding rows are never inputs or targets yet their logits are in the softmax. The head size stays 64 (the
    /// records' is 128): at width 128 one head of 128 would make QK-norm over the head the same as a norm over
    /// the whole width, and the head split and merge identities; two heads of 64 tell them apart.
    /// </summary>
    public static OracleSizes Padded { get; } = new(Vocab: 1024) { Tokens = 997 };

    /// <summary>A batch of random tokens: inputs and next-token targets, (Batch, SequenceLength) each.</summary>
    public (int[] Inputs, int[] Targets) MakeBatch(int seed)
    {
        var rng = new Random(seed);
        var tokens = Enumerable.Range(0, Batch * SequenceLength + 1).Select(_ => rng.Next(Tokens)).ToArray();
        return (tokens[..^1], tokens[1..]);
    }
}

/// <summary>
/// A record's model as the benchmark runs it: records/NN-slug/Train.cs compiled by the runner's compiler, its
/// Gpt built at <see cref="OracleSizes"/> through the program's Hyperparameters init properties (plus any
/// <c>settings</c>, e.g. a short momentum warm-up), its products at the precision the program's loop uses on
/// the CPU device.
/// </summary>
sealed class RecordGpt : IDisposable
{
    readonly Type _gpt;

    public RecordGpt(string record, OracleSizes size, int seed, params (string Name, object Value)[] settings)
    {
        Size = size;
        Program = RecordProgram.Load(record);
        Device = Device.Create(Kernels.Runtime.DeviceKind.Cpu);
        Hyperparameters = Program.Hyperparameters([("Layers", size.Layers), ("Dim", size.Dim), ("HeadDim", size.HeadDim),
            ("Vocab", size.Vocab), ("SequenceLength", size.SequenceLength), .. settings]);
        Precision = RecordPrecision.Of(Program, Device.IsCuda);
        _gpt = Program.Type("Gpt");
        Model = (Module)Activator.CreateInstance(_gpt, Device, Hyperparameters, new Random(seed))!;
    }

    public OracleSizes Size { get; }
    public LoadedProgram Program { get; }
    public Device Device { get; }
    public Module Model { get; }
    /// <summary>The program's Hyperparameters instance the model was built from.</summary>
    public object Hyperparameters { get; }
    /// <summary>The matmul precision the program's loop puts its forward and backward under on the CPU device.</summary>
    public MatmulPrecision Precision { get; }

    /// <summary>The record's optimizers over this model, wired as its loop wires them (rates at their peak).</summary>
    public RecordOptimizers Optimizers() => new(Program, Device, Model, Hyperparameters);

    /// <summary>One of the Gpt's tensor properties (Embedding, Head).</summary>
    public Tensor Property(string name) => LoadedProgram.Get<Tensor>(Model, name);

    /// <summary>
    /// Gives every parameter that is all zeros (records 5+ start attn.c_proj and mlp.c_proj at zero, records 8+
    /// the head too) nn.Linear's default U(±1/√cols). From the records' own start every gradient upstream of a
    /// zero matrix is exactly zero, so a step-0 comparison would check those gradients only for being zero.
    /// </summary>
    public void FillZeroParameters(int seed)
    {
        var rng = new Random(seed);
        foreach (var (_, p) in Model.NamedParameters())
        {
            if (p.ToArray().Any(v => v != 0)) continue;
            int cols = p.Rank == 2 ? p.Dim(1) : 1;
            var values = Init.Uniform(rng, p.Length, 1 / Math.Sqrt(cols));
            using var source = Tensor.FromArray(Device, values, p.Shape);
            using (GradMode.NoGrad()) p.Copy_(source);
        }
    }

    /// <summary>The result of one of the Gpt's parameter-list methods (HeadParameters, BlockParameters).</summary>
    public IReadOnlyList<Tensor> ParameterList(string method) =>
        (IReadOnlyList<Tensor>)(_gpt.GetMethod(method) ?? throw new InvalidOperationException($"Gpt has no method {method}."))
            .Invoke(Model, null)!;

    /// <summary>The gradient <see cref="LossAndBackward"/> starts backward from (1: the loss's own). Records 19-21's tests
    /// set it to their stream length over the record's (256/65,536), so that the head's output gradients have the
    /// record's per-token size, which its FP8 gradient scale is tuned to.</summary>
    public float LossGradient { get; set; } = 1f;

    /// <summary>Zeroes the gradients, runs the program's Gpt.Loss on a batch and backpropagates (from
    /// <see cref="LossGradient"/>); returns the loss.</summary>
    public float LossAndBackward((int[] Inputs, int[] Targets) batch)
    {
        Model.ZeroGrad();
        using var scope = new TensorScope();
        var (b, t) = (Size.Batch, Size.SequenceLength);
        Tensor loss;
        using (Autocast.Use(Precision))
            loss = (Tensor)_gpt.GetMethod("Loss")!.Invoke(Model,
                [Tensor.FromArray(Device, batch.Inputs, b, t), Tensor.FromArray(Device, batch.Targets, b, t)])!;
        float value = loss.Item();
        loss.Backward(LossGradient);
        return value;
    }

    /// <summary>The twin of this model (records 2-4) from its current weights.</summary>
    public RotaryGptTwin Twin(double rotation = -1) => Twin(RotaryGptTwin.Records2To4 with { Rotation = rotation });

    /// <summary>The twin of this model with the given architecture, from its current weights.</summary>
    public RotaryGptTwin Twin(RotaryGptTwin.Architecture architecture) =>
        new(Size, Model.NamedParameters().Select(p => (p.Name, p.Value.ToArray(), p.Value.Shape)), architecture);

    public void Dispose()
    {
        Model.Dispose();
        Device.Dispose();
    }
}

/// <summary>The worst relative errors of one comparison of a record's model with its twin: of the loss, and of
/// the tensors compared (gradients at step 0, or the weights after training), and which tensor was worst.</summary>
readonly record struct Disagreement(double Loss, double Tensors, string? WorstTensor = null)
{
    /// <summary>Both errors within the tolerances.</summary>
    public bool Within(Disagreement tolerance) => Loss <= tolerance.Loss && Tensors <= tolerance.Tensors;

    /// <summary>How many times over the tolerance the worse of the two errors is (above 1: the check fails).</summary>
    public double Ratio(Disagreement tolerance) => Math.Max(Loss / tolerance.Loss, Tensors / tolerance.Tensors);

    public override string ToString() => $"loss {Loss:E2}, tensors {Tensors:E2}" + (WorstTensor is null ? "" : $" ({WorstTensor})");
}

/// <summary>The comparisons, each returning its <see cref="Disagreement"/> so that tests can assert both that
/// the real twin agrees and that a mutated one does not.</summary>
static class RecordOracle
{
    /// <summary>
    /// Step 0, fp32 engine against float64, the same for records 2-4 (one model). Measured over seeds 1-6:
    /// loss ≤ 6.3e-8 (one fp32 ulp of a loss near 6.9 is 6.9e-8 relative), gradients ≤ 1.02e-6 of each
    /// tensor's largest entry. Tolerances about 5x those: 3e-7 and 5e-6. Records 5 and 8 (measured ≤ 5.5e-8 and
    /// ≤ 1.7e-6) use it too.
    /// </summary>
    public static Disagreement StepZeroTolerance { get; } = new(Loss: 3e-7, Tensors: 5e-6);

    /// <summary>
    /// Loss and every parameter gradient at step 0 on one batch. Loss error: |ours − twin| / |twin|. Gradient
    /// error, per parameter: max|ours − twin| / max|twin| (the tensor's own scale, so that tiny entries of a
    /// large gradient do not count as large relative errors); the worst parameter counts. The learned scalars of
    /// records 9+ (parameters of fewer than 2 dims) share one scale, the largest of all their gradients: each is
    /// a sum over the whole residual stream or all values, and one that nearly cancels (record 9's value-residual
    /// λ: Σ dy·(v1 − v)) has an fp32 error that is large only against itself (measured up to 1.3e-4 of it).
    /// </summary>
    public static Disagreement StepZero(RecordGpt ours, RotaryGptTwin twin, int batchSeed)
    {
        using var torchScope = torch.NewDisposeScope(); // the twin's tensors die here, not in a finalizer
        var batch = ours.Size.MakeBatch(batchSeed);
        float loss = ours.LossAndBackward(batch);
        var reference = twin.Loss(batch.Inputs, batch.Targets);
        reference.backward();
        double expected = reference.item<double>();

        var parameters = ours.Model.NamedParameters();
        double scalarScale = parameters.Where(p => p.Value.Rank < 2).SelectMany(p => Gradient(twin, p.Name, p.Value))
            .Select(Math.Abs).DefaultIfEmpty(0).Max();
        double worst = 0;
        string? worstName = null;
        foreach (var (name, p) in parameters)
        {
            var want = Gradient(twin, name, p);
            var got = p.Grad!.ToArray();
            double scale = p.Rank < 2 ? scalarScale : want.Max(Math.Abs), error = 0;
            for (int i = 0; i < want.Length; i++) error = Math.Max(error, Math.Abs(got[i] - want[i]));
            double relative = Relative(error, scale);
            if (relative >= worst) (worst, worstName) = (relative, name);
        }
        return new(Math.Abs(loss - expected) / Math.Abs(expected), worst, worstName);
    }

    /// <summary>
    /// Step 0 of a model computed in bf16 (records 10+), against its bf16 twin: the loss's relative error as in
    /// <see cref="StepZero"/>, and for the gradients the fraction of the bf16 emulation's own effect that the twin
    /// leaves unexplained, ‖g_ours − g_twin‖ / ‖g_twin − g_float64‖ over all gradients at once, where g_float64
    /// comes from the same twin without any rounding (<see cref="RotaryGptTwin.Architecture.Bf16Compute"/> off).
    /// An element-wise comparison says little here: an fp32 rounding that tips one value to the other bf16
    /// neighbour changes it by 2^-8, the products it feeds by enough to tip others, and so on through the
    /// layers, so the two sides' rounding errors decorrelate, and a twin rounding in the right places is
    /// closer than one with no rounding only by a factor. 0 is perfect agreement; about 1 means the rounding is no
    /// better explained than by not rounding at all.
    /// </summary>
    public static Disagreement StepZeroBf16(RecordGpt ours, RotaryGptTwin.Architecture architecture, int batchSeed)
    {
        using var torchScope = torch.NewDisposeScope(); // the twin's tensors die here, not in a finalizer
        var twin = ours.Twin(architecture);
        var unrounded = ours.Twin(architecture with { Bf16Compute = false });
        var batch = ours.Size.MakeBatch(batchSeed);
        float loss = ours.LossAndBackward(batch);
        var reference = twin.Loss(batch.Inputs, batch.Targets);
        reference.backward();
        unrounded.Loss(batch.Inputs, batch.Targets).backward();
        double expected = reference.item<double>(), unexplained = 0, effect = 0;
        foreach (var (name, p) in ours.Model.NamedParameters())
        {
            var want = Gradient(twin, name, p);
            var without = Gradient(unrounded, name, p);
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
    static double[] Gradient(RotaryGptTwin twin, string name, Tensor ours) =>
        twin.Parameters[name].grad is { } grad ? TensorData.Read<double>(grad) : new double[ours.Length];

    /// <summary>error / scale, where a zero scale (a gradient or move that is exactly zero) admits only a zero error.</summary>
    static double Relative(double error, double scale) =>
        scale > 0 ? error / scale : error == 0 ? 0 : double.PositiveInfinity;

    /// <summary>
    /// Trains both models for <paramref name="steps"/> optimizer steps, one new batch a step, and compares the
    /// loss before each step and after the last (|ours − twin| / |twin|, the worst of steps + 1) and every
    /// weight at the end, relative to how far the twin moved it: ‖W_ours − W_twin‖ / ‖W_twin − W_0‖ (Frobenius
    /// norms, so one entry that an fp32 rounding tips to the other side of a bf16 rounding boundary, or of
    /// Adam's sign-like first step, does not dominate).
    /// </summary>
    /// <param name="stepOurs">The record's optimizer step on our model (gradients are in place).</param>
    /// <param name="stepTwin">The same on the twin (gradients are in place).</param>
    public static Disagreement Training(RecordGpt ours, RotaryGptTwin twin, int steps, int batchSeed, Action stepOurs, Action stepTwin) =>
        Training(ours, twin, steps, batchSeed, _ => stepOurs(), _ => stepTwin());

    /// <summary>As above, with optimizer steps that depend on the step index (a momentum warm-up).</summary>
    /// <param name="scalarReach">When positive, a parameter with fewer than 2 dims is measured against
    /// max(how far it moved, scalarReach·√elements) rather than how far it moved: in bf16 a learned scalar's gradient
    /// can be at the rounding-noise level, and Adam's first steps (about lr·sign(g)) then move it by ±lr with either
    /// sign, so its reach (lr·steps), not its chance net move, is the scale of an error.</param>
    public static Disagreement Training(RecordGpt ours, RotaryGptTwin twin, int steps, int batchSeed, Action<int> stepOurs,
        Action<int> stepTwin, double scalarReach = 0)
    {
        using var torchScope = torch.NewDisposeScope(); // the twin's tensors die here, not in a finalizer
        var initial = twin.Parameters.ToDictionary(p => p.Key, p => p.Value.detach().clone());
        double lossError = 0;
        for (int step = 0; step <= steps; step++)
        {
            var batch = ours.Size.MakeBatch(batchSeed + step);
            float loss = ours.LossAndBackward(batch);
            foreach (var p in twin.Parameters.Values) p.grad?.zero_();
            var reference = twin.Loss(batch.Inputs, batch.Targets);
            double expected = reference.item<double>();
            lossError = Math.Max(lossError, Math.Abs(loss - expected) / Math.Abs(expected));
            if (step == steps) break;
            reference.backward();
            stepOurs(step);
            stepTwin(step);
        }

        double worst = 0;
        string? worstName = null;
        foreach (var (name, p) in ours.Model.NamedParameters())
        {
            var twinWeight = twin.Parameters[name].detach();
            var ourWeight = torch.tensor(p.ToArray().Select(v => (double)v).ToArray(), twinWeight.shape);
            double moved = (twinWeight - initial[name]).norm().item<double>();
            if (p.Rank < 2) moved = Math.Max(moved, scalarReach * Math.Sqrt(p.Length));
            double relative = Relative((ourWeight - twinWeight).norm().item<double>(), moved);
            if (relative >= worst) (worst, worstName) = (relative, name);
        }
        return new(lossError, worst, worstName);
    }

    /// <summary>The losses of <paramref name="steps"/> training steps of a record's model (determinism checks).</summary>
    public static float[] Losses(RecordGpt ours, int steps, int batchSeed, Action stepOurs) =>
        Losses(ours, steps, batchSeed, _ => stepOurs());

    /// <summary>As above, with optimizer steps that depend on the step index.</summary>
    public static float[] Losses(RecordGpt ours, int steps, int batchSeed, Action<int> stepOurs)
    {
        var losses = new float[steps];
        for (int step = 0; step < steps; step++)
        {
            losses[step] = ours.LossAndBackward(ours.Size.MakeBatch(batchSeed + step));
            stepOurs(step);
        }
        return losses;
    }
}
