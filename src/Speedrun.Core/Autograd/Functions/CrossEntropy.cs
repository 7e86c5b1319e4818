using Speedrun.Kernels.Ops;

namespace Speedrun.Core.Autograd.Functions;

/// <summary>
/// Mean cross-entropy of logits (N, Vp) against int targets (N) over the first V columns (the rest is padding,
/// see <see cref="Linear"/>); targets outside [0, V) are ignored (they count in N, as the records' batches
/// have none). Fused like llm.c's classifier: when a graph is recorded the same pass that computes the loss
/// writes dloss/dlogits into a buffer of its own, so the backward is a scale by the incoming gradient (or
/// nothing when the loss is the root with seed 1). The logits are left intact.
/// </summary>
internal sealed class CrossEntropy(Tensor targets, int? classes) : Function("cross_entropy")
{
    Tensor? _dlogits;

    protected override Tensor[] Forward(Tensor[] inputs)
    {
        var logits = inputs[0];
        Check.Dtype("CrossEntropy", targets, DType.I32);
        int vp = logits.Dim(-1), n = (int)(logits.Length / vp), v = classes ?? vp;
        Check.That(v >= 1 && v <= vp, "CrossEntropy", () => $"classes={v} must be between 1 and the row width {vp} of {logits.Describe()}.");
        Check.That(targets.Length == n, "CrossEntropy",
            () => $"logits {logits.Describe()} have {n} rows but targets {targets.Describe()} have {targets.Length}.");
        var device = logits.Device;
        var kernels = device.CrossEntropy();
        using var losses = device.Pool.Rent<float>(n);
        var loss = Tensor.Empty(device, 1);
        if (IsRecording)
        {
            _dlogits = Tensor.Empty(device, logits.Shape);
            kernels.ForwardBackward(logits.F32, targets.I32, n, v, vp, 1f / n, losses.View, _dlogits.F32);
        }
        else
        {
            kernels.Forward(logits.F32, targets.I32, n, v, vp, losses.View);
        }
        device.Reduction().Sum(losses.View, loss.F32);
        device.Elementwise().Scale(loss.F32, 1f / n, loss.F32);
        return [loss];
    }

    public override Tensor?[] Backward(Tensor[] gradOutputs)
    {
        var dlogits = Take();
        dlogits.Device.Arithmetic().Apply<MulOp>(dlogits.F32, gradOutputs[0].F32, dlogits.F32);
        return [dlogits];
    }

    internal override Tensor?[] BackwardFromSeed(Tensor seedTensor, float seed)
    {
        var dlogits = Take();
        if (seed != 1f) dlogits.Device.Elementwise().Scale(dlogits.F32, seed, dlogits.F32);
        return [dlogits];
    }

    Tensor Take()
    {
        var d = _dlogits ?? throw new InvalidOperationException("CrossEntropy: backward ran twice or without a recorded forward.");
        _dlogits = null;
        return d;
    }

    protected internal override void Release() => _dlogits = null;
}
