using Speedrun.Kernels.Ops;

namespace Speedrun.Core.Autograd.Functions;

/// <summary>
/// Mean cross-entropy of logits (N, V) against int targets (N), optionally on softcapped logits
/// cap·tanh(z/cap). Fused like llm.c's classifier: when a graph is recorded, the forward pass also
/// writes dloss/dlogits over the logits' own storage (the logits are consumed), so backward is free.
/// Must be the loss passed to Backward (its gradient is the seed).
/// </summary>
internal sealed class CrossEntropy : Node
{
    readonly Tensor _logits;

    CrossEntropy(Tensor logits) : base("cross_entropy", logits) => _logits = logits;

    /// <param name="classes">How many of each row's columns are classes (the rest is padding, see
    /// <see cref="Linear.Apply"/>); default: all of them.</param>
    public static Tensor Apply(Tensor logits, Tensor targets, float softcap = 0f, int? classes = null)
    {
        Check.Dtype("CrossEntropy", targets, DType.I32);
        int vp = logits.Dim(-1), n = (int)(logits.Length / vp), v = classes ?? vp;
        Check.That(v >= 1 && v <= vp, "CrossEntropy", () => $"classes={v} must be between 1 and the row width {vp} of {logits.Describe()}.");
        Check.That(targets.Length == n, "CrossEntropy",
            () => $"logits {logits.Describe()} have {n} rows but targets {targets.Describe()} have {targets.Length}.");
        var device = logits.Device;
        var kernels = device.CrossEntropy();
        using var losses = device.Pool.Rent<float>(n);
        var loss = Tensor.Empty(device, 1);
        bool record = WillRecord(logits);
        if (record)
            kernels.ForwardBackward(logits.F32, targets.I32, n, v, vp, 1f / n, softcap, losses.View, logits.F32);
        else
            kernels.Forward(logits.F32, targets.I32, n, v, vp, softcap, losses.View);
        device.Reduction().Sum(losses.View, loss.F32);
        device.Elementwise().Scale(loss.F32, 1f / n, loss.F32);
        return record ? Record(new CrossEntropy(logits), loss) : loss;
    }

    public override Tensor?[] Backward(Tensor gradOutput) =>
        throw new InvalidOperationException("CrossEntropy must be the loss passed to Backward (its gradient is fused into the forward pass).");

    public override Tensor?[] BackwardFromSeed(Tensor seedTensor, float seed)
    {
        if (seed != 1f) _logits.Device.Elementwise().Scale(_logits.F32, seed, _logits.F32);
        return [_logits.AliasWithShape(_logits.Shape)];
    }
}
