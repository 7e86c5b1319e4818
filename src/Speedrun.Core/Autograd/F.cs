using Speedrun.Core.Autograd.Functions;
using Speedrun.Kernels.Ops;

namespace Speedrun.Core.Autograd;

/// <summary>
/// The differentiable ops a training program calls, named as in torch.nn.functional where one exists.
/// Each is a forward + backward pair in Functions/ over the engine's kernels.
/// </summary>
public static class F
{
    /// <summary>Token (+ position) embedding: tokens (B, T) int → (B, T, C).</summary>
    public static Tensor Embedding(Tensor tokens, Tensor wte, Tensor? wpe = null)
    {
        using var _ = Profiler.Op("embedding");
        return Functions.Embedding.Apply(tokens, wte, wpe);
    }

    /// <summary>x·Wᵀ for W of shape (out, in); precision follows <see cref="Autocast"/>.</summary>
    public static Tensor Linear(Tensor x, Tensor weight, int padTo = 1)
    {
        using var _ = Profiler.Op(Profiler.IsActive ? $"linear {weight.Dim(1)}->{weight.Dim(0)}" : "");
        return Functions.Linear.Apply(x, weight, padTo);
    }

    /// <summary>Weightless RMSNorm over the last dimension.</summary>
    public static Tensor RmsNorm(Tensor x, float eps = 1e-6f)
    {
        using var _ = Profiler.Op("rms_norm");
        return Functions.RmsNorm.Apply(x, eps);
    }

    public static Tensor Gelu(Tensor x, GeluForm form = GeluForm.Erf)
    {
        using var _ = Profiler.Op("gelu");
        return Functions.Gelu.Apply(x, form);
    }

    public static Tensor ReluSquared(Tensor x)
    {
        using var _ = Profiler.Op("relu_squared");
        return Functions.ReluSquared.Apply(x);
    }

    /// <summary>Causal self-attention from a fused (B, T, 3C) qkv projection.</summary>
    public static Tensor CausalSelfAttention(Tensor qkv, int heads, float? scale = null)
    {
        using var _ = Profiler.Op("causal_self_attention");
        return Functions.CausalSelfAttention.Apply(qkv, heads, scale);
    }

    /// <summary>Mean cross-entropy; consumes the logits when a graph is recorded (fused backward).</summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor targets, float softcap = 0f, int? classes = null)
    {
        using var _ = Profiler.Op("cross_entropy");
        return Functions.CrossEntropy.Apply(logits, targets, softcap, classes);
    }

    public static Tensor Add(Tensor a, Tensor b)
    {
        using var _ = Profiler.Op("add");
        return Functions.Add.Apply(a, b);
    }

    public static Tensor Scale(Tensor x, float s)
    {
        using var _ = Profiler.Op("scale");
        return Functions.Scale.Apply(x, s);
    }
}
