using Speedrun.Kernels.Ops;

namespace Speedrun.Core.Autograd.Functions;

/// <summary>
/// Causal multi-head self-attention from a fused qkv projection (B, T, 3C) to (B, T, C), GPT-2 layout
/// ([q | k | v], head h at columns h·HS…). Scores by batched GEMM, scaled causal softmax, att·v.
/// Saves q, k, v (B, NH, T, HS) and the attention matrix (B, NH, T, T) for backward.
/// </summary>
internal sealed class CausalSelfAttention : Node
{
    readonly Tensor _q, _k, _v, _att;
    readonly int _b, _t, _nh, _hs;
    readonly float _scale;
    // Under bf16 autocast the score and value GEMMs may use TF32 tensor cores (still more precise than
    // the bf16 attention PyTorch runs under autocast); backward keeps the forward's choice.
    readonly bool _reducedPrecision = Autocast.Current == MatmulPrecision.BF16;

    CausalSelfAttention(Tensor qkv, Tensor q, Tensor k, Tensor v, Tensor att, int b, int t, int nh, int hs, float scale)
        : base("causal_self_attention", qkv)
    {
        (_q, _k, _v, _att) = (q, k, v, att);
        (_b, _t, _nh, _hs, _scale) = (b, t, nh, hs, scale);
    }

    public static Tensor Apply(Tensor qkv, int heads, float? scale = null)
    {
        Check.Rank("CausalSelfAttention", qkv, 3, "qkv of shape (B, T, 3C)");
        int b = qkv.Dim(0), t = qkv.Dim(1), c3 = qkv.Dim(2);
        Check.That(c3 % (3 * heads) == 0, "CausalSelfAttention",
            () => $"qkv {qkv.Describe()}: last dimension must be 3·heads·head_dim with heads={heads}.");
        int c = c3 / 3, hs = c / heads;
        float s = scale ?? 1f / MathF.Sqrt(hs);
        var device = qkv.Device;
        var kernels = device.Attention();
        var q = Tensor.Empty(device, b, heads, t, hs);
        var k = Tensor.Empty(device, b, heads, t, hs);
        var v = Tensor.Empty(device, b, heads, t, hs);
        var att = Tensor.Empty(device, b, heads, t, t);
        var yHeads = Tensor.Empty(device, b, heads, t, hs);
        var y = Tensor.Empty(device, b, t, c);
        using (Profiler.Op("attention.split_heads"))
            kernels.SplitHeads(qkv.F32, b, t, heads, hs, q.F32, k.F32, v.F32);
        using (Profiler.Op("attention.core"))
        using (Tf32.When(device, Autocast.Current == MatmulPrecision.BF16))
            kernels.Core(q.F32, k.F32, v.F32, b, heads, t, hs, s, att.F32, yHeads.F32);
        using (Profiler.Op("attention.merge_heads"))
            kernels.MergeHeads(yHeads.F32, b, t, heads, hs, y.F32);
        return Record(new CausalSelfAttention(qkv, q, k, v, att, b, t, heads, hs, s), y);
    }

    public override Tensor?[] Backward(Tensor dy)
    {
        var device = dy.Device;
        var kernels = device.Attention();
        var dyHeads = Tensor.Empty(device, _b, _nh, _t, _hs);
        var dq = Tensor.Empty(device, _b, _nh, _t, _hs);
        var dk = Tensor.Empty(device, _b, _nh, _t, _hs);
        var dv = Tensor.Empty(device, _b, _nh, _t, _hs);
        var dqkv = Tensor.Empty(device, _b, _t, 3 * _nh * _hs);
        using (Profiler.Op("attention.split_head_grads"))
            kernels.SplitHeadGrads(dy.F32, _b, _t, _nh, _hs, dyHeads.F32);
        using (Profiler.Op("attention.core_backward"))
        using (Tf32.When(device, _reducedPrecision))
            kernels.CoreBackward(dyHeads.F32, _q.F32, _k.F32, _v.F32, _att.F32, _b, _nh, _t, _hs, _scale, dq.F32, dk.F32, dv.F32);
        using (Profiler.Op("attention.merge_head_grads"))
            kernels.MergeHeadGrads(dq.F32, dk.F32, dv.F32, _b, _t, _nh, _hs, dqkv.F32);
        return [dqkv];
    }
}
