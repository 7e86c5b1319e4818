using Speedrun.Kernels.Ops;

namespace Speedrun.Core.Autograd.Functions;

/// <summary>
/// F.scaled_dot_product_attention for q, k, v of shape (B, H, T, D): y = softmax(scale·q kᵀ [+ causal mask]) v.
/// The scores are materialised (B, H, T, T) and saved for the backward with q, k, v.
/// </summary>
internal sealed class ScaledDotProductAttention(bool causal, float? scale) : Function("scaled_dot_product_attention")
{
    // Under bf16 autocast the score and value GEMMs may use TF32 tensor cores (still more precise than
    // the bf16 attention PyTorch runs under autocast); backward keeps the forward's choice.
    readonly bool _reducedPrecision = Autocast.Current == MatmulPrecision.BF16;
    Tensor? _att;
    float _scale;

    protected override Tensor[] Forward(Tensor[] inputs)
    {
        var (q, k, v) = (inputs[0], inputs[1], inputs[2]);
        Check.Rank("ScaledDotProductAttention", q, 4, "q of shape (B, H, T, D)");
        Check.SameShape("ScaledDotProductAttention", q, k);
        Check.SameShape("ScaledDotProductAttention", q, v);
        int b = q.Dim(0), h = q.Dim(1), t = q.Dim(2), d = q.Dim(3);
        Check.That((long)b * h * t * t <= int.MaxValue, "ScaledDotProductAttention",
            () => $"the scores (B={b}, H={h}, T={t}, T={t}) exceed 2^31 elements.");
        _scale = scale ?? 1f / MathF.Sqrt(d);
        var device = q.Device;
        var att = Tensor.Empty(device, b, h, t, t);
        var y = Tensor.Empty(device, q.Shape);
        using (Tf32.When(device, _reducedPrecision))
            device.Attention().Forward(q.F32, k.F32, v.F32, b, h, t, d, _scale, causal, att.F32, y.F32);
        if (IsRecording) _att = att;
        return [y];
    }

    public override Tensor?[] Backward(Tensor[] gradOutputs)
    {
        var (q, k, v) = (Inputs[0], Inputs[1], Inputs[2]);
        var device = q.Device;
        var dq = Tensor.Empty(device, q.Shape);
        var dk = Tensor.Empty(device, q.Shape);
        var dv = Tensor.Empty(device, q.Shape);
        using (Tf32.When(device, _reducedPrecision))
            device.Attention().Backward(gradOutputs[0].F32, q.F32, k.F32, v.F32, _att!.F32, q.Dim(0), q.Dim(1), q.Dim(2),
                q.Dim(3), _scale, causal, dq.F32, dk.F32, dv.F32);
        return [dq, dk, dv];
    }

    protected internal override void Release() => _att = null;
}
