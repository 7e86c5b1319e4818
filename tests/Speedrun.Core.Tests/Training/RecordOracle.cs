using Speedrun.Benchmark.Runs;
using Speedrun.Core.Autograd;
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
    /// <summary>A batch of random tokens: inputs and next-token targets, (Batch, SequenceLength) each.</summary>
    public (int[] Inputs, int[] Targets) MakeBatch(int seed)
    {
        var rng = new Random(seed);
        var tokens = Enumerable.Range(0, Batch * SequenceLength + 1).Select(_ => rng.Next(Vocab)).ToArray();
        return (tokens[..^1], tokens[1..]);
    }
}

/// <summary>
/// A record's model as the benchmark runs it: records/NN-slug/Train.cs compiled by the runner's compiler, its
/// Gpt built at <see cref="OracleSizes"/> through the program's Hyperparameters init properties.
/// </summary>
sealed class RecordGpt : IDisposable
{
    readonly Type _gpt;

    public RecordGpt(string record, OracleSizes size, int seed)
    {
        Size = size;
        Program = RecordProgram.Load(record);
        Device = Device.Create(Kernels.Runtime.DeviceKind.Cpu);
        var hp = Program.Hyperparameters(("Layers", size.Layers), ("Dim", size.Dim), ("HeadDim", size.HeadDim),
            ("Vocab", size.Vocab), ("SequenceLength", size.SequenceLength));
        _gpt = Program.Type("Gpt");
        Model = (Module)Activator.CreateInstance(_gpt, Device, hp, new Random(seed))!;
    }

    public OracleSizes Size { get; }
    public LoadedProgram Program { get; }
    public Device Device { get; }
    public Module Model { get; }

    /// <summary>The result of one of the Gpt's parameter-list methods (HeadParameters, BlockParameters).</summary>
    public IReadOnlyList<Tensor> ParameterList(string method) =>
        (IReadOnlyList<Tensor>)(_gpt.GetMethod(method) ?? throw new InvalidOperationException($"Gpt has no method {method}."))
            .Invoke(Model, null)!;

    /// <summary>Zeroes the gradients, runs the program's Gpt.Loss on a batch and backpropagates; returns the loss.</summary>
    public float LossAndBackward((int[] Inputs, int[] Targets) batch)
    {
        Model.ZeroGrad();
        using var scope = new TensorScope();
        var (b, t) = (Size.Batch, Size.SequenceLength);
        var loss = (Tensor)_gpt.GetMethod("Loss")!.Invoke(Model,
            [Tensor.FromArray(Device, batch.Inputs, b, t), Tensor.FromArray(Device, batch.Targets, b, t)])!;
        float value = loss.Item();
        loss.Backward();
        return value;
    }

    /// <summary>The twin of this model from its current weights.</summary>
    public RotaryGptTwin Twin(double rotation = -1) =>
        new(Size, Model.NamedParameters().Select(p => (p.Name, p.Value.ToArray(), p.Value.Shape)), rotation);

    public void Dispose()
    {
        Model.Dispose();
        Device.Dispose();
    }
}

/// <summary>The worst relative errors of one comparison of a record's model with its twin: of the loss, and of
/// the tensors compared (gradients at step 0, or the weights after training).</summary>
readonly record struct Disagreement(double Loss, double Tensors)
{
    /// <summary>Both errors within the tolerances.</summary>
    public bool Within(Disagreement tolerance) => Loss <= tolerance.Loss && Tensors <= tolerance.Tensors;

    /// <summary>How many times over the tolerance the worse of the two errors is (above 1: the check fails).</summary>
    public double Ratio(Disagreement tolerance) => Math.Max(Loss / tolerance.Loss, Tensors / tolerance.Tensors);

    public override string ToString() => $"loss {Loss:E2}, tensors {Tensors:E2}";
}

/// <summary>The comparisons, each returning its <see cref="Disagreement"/> so that tests can assert both that
/// the real twin agrees and that a mutated one does not.</summary>
static class RecordOracle
{
    /// <summary>
    /// Step 0, fp32 engine against float64, the same for records 2-4 (one model). Measured over seeds 1-6:
    /// loss ≤ 6.3e-8 (one fp32 ulp of a loss near 6.9 is 6.9e-8 relative), gradients ≤ 1.02e-6 of each
    /// tensor's largest entry. Tolerances about 5x those: 3e-7 and 5e-6.
    /// </summary>
    public static Disagreement StepZeroTolerance { get; } = new(Loss: 3e-7, Tensors: 5e-6);

    /// <summary>
    /// Loss and every parameter gradient at step 0 on one batch. Loss error: |ours − twin| / |twin|. Gradient
    /// error, per parameter: max|ours − twin| / max|twin| (the tensor's own scale, so that tiny entries of a
    /// large gradient do not count as large relative errors); the worst parameter counts.
    /// </summary>
    public static Disagreement StepZero(RecordGpt ours, RotaryGptTwin twin, int batchSeed)
    {
        var batch = ours.Size.MakeBatch(batchSeed);
        float loss = ours.LossAndBackward(batch);
        var reference = twin.Loss(batch.Inputs, batch.Targets);
        reference.backward();
        double expected = reference.item<double>();

        double worst = 0;
        foreach (var (name, p) in ours.Model.NamedParameters())
        {
            var want = twin.Parameters[name].grad!.data<double>().ToArray();
            var got = p.Grad!.ToArray();
            double scale = want.Max(Math.Abs), error = 0;
            for (int i = 0; i < want.Length; i++) error = Math.Max(error, Math.Abs(got[i] - want[i]));
            worst = Math.Max(worst, error / scale);
        }
        return new(Math.Abs(loss - expected) / Math.Abs(expected), worst);
    }

    /// <summary>
    /// Trains both models for <paramref name="steps"/> optimizer steps, one new batch a step, and compares the
    /// loss before each step and after the last (|ours − twin| / |twin|, the worst of steps + 1) and every
    /// weight at the end, relative to how far the twin moved it: ‖W_ours − W_twin‖ / ‖W_twin − W_0‖ (Frobenius
    /// norms, so one entry that an fp32 rounding tips to the other side of a bf16 rounding boundary, or of
    /// Adam's sign-like first step, does not dominate).
    /// </summary>
    /// <param name="stepOurs">The record's optimizer step on our model (gradients are in place).</param>
    /// <param name="stepTwin">The same on the twin (gradients are in place).</param>
    public static Disagreement Training(RecordGpt ours, RotaryGptTwin twin, int steps, int batchSeed, Action stepOurs, Action stepTwin)
    {
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
            stepOurs();
            stepTwin();
        }

        double worst = 0;
        foreach (var (name, p) in ours.Model.NamedParameters())
        {
            var twinWeight = twin.Parameters[name].detach();
            var ourWeight = torch.tensor(p.ToArray().Select(v => (double)v).ToArray(), twinWeight.shape);
            double moved = (twinWeight - initial[name]).norm().item<double>();
            worst = Math.Max(worst, (ourWeight - twinWeight).norm().item<double>() / moved);
        }
        return new(lossError, worst);
    }

    /// <summary>The losses of <paramref name="steps"/> training steps of a record's model (determinism checks).</summary>
    public static float[] Losses(RecordGpt ours, int steps, int batchSeed, Action stepOurs)
    {
        var losses = new float[steps];
        for (int step = 0; step < steps; step++)
        {
            losses[step] = ours.LossAndBackward(ours.Size.MakeBatch(batchSeed + step));
            stepOurs();
        }
        return losses;
    }
}
