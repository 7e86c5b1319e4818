using Speedrun.Kernels.Ops;

namespace Speedrun.Core.Autograd.Functions;

/// <summary>
/// Flash attention on q, k, v of shape (B, H, T, D) under a <see cref="BlockMask{TMask}"/>: y = softmax(scale·q kᵀ
/// restricted to the visible keys) v, without a T × T buffer. Saves y and the row log-sum-exp (B, H, T) for the
/// backward, which recomputes the probabilities block by block. Dense and causal SDPA run through it too.
/// </summary>
internal sealed class FlexAttention<TMask>(BlockMask<TMask> blockMask, float? scale, string name = "flex_attention")
    : Function(name) where TMask : struct, IMaskMod
{
    Tensor? _y, _lse;
    float _scale;

    protected override Tensor[] Forward(Tensor[] inputs)
    {
        var (q, k, v) = (inputs[0], inputs[1], inputs[2]);
        Check.Rank(Name, q, 4, "q of shape (B, H, T, D)");
        Check.SameShape(Name, q, k);
        Check.SameShape(Name, q, v);
        int b = q.Dim(0), h = q.Dim(1), t = q.Dim(2), d = q.Dim(3);
        Check.That(blockMask.Length == t, Name,
            () => $"the block mask covers {blockMask.Length} positions but q has T={t}; build the mask for this length.");
        _scale = scale ?? 1f / MathF.Sqrt(d);
        var device = q.Device;
        var y = Tensor.Empty(device, q.Shape);
        var lse = Tensor.Empty(device, b, h, t);
        device.FlashAttention().Forward(q.F32, k.F32, v.F32, b, h, t, d, _scale, blockMask.Sparsity, blockMask.Mask,
            y.F32, lse.F32);
        if (IsRecording) (_y, _lse) = (y, lse);
        return [y];
    }

    public override Tensor?[] Backward(Tensor[] gradOutputs)
    {
        var (q, k, v) = (Inputs[0], Inputs[1], Inputs[2]);
        var device = q.Device;
        var dq = Tensor.Empty(device, q.Shape);
        var dk = Tensor.Empty(device, q.Shape);
        var dv = Tensor.Empty(device, q.Shape);
        device.FlashAttention().Backward(gradOutputs[0].F32, q.F32, k.F32, v.F32, _y!.F32, _lse!.F32,
            q.Dim(0), q.Dim(1), q.Dim(2), q.Dim(3), _scale, blockMask.Sparsity, blockMask.Mask, dq.F32, dk.F32, dv.F32);
        return [dq, dk, dv];
    }

    protected internal override void Release() => (_y, _lse) = (null, null);
}
