using ILGPU;

namespace Speedrun.Kernels.Ops;

// Flash attention with a block-sparse mask, on q, k, v of shape (B, H, T, D), one mask shared by every batch
// and head. For query row i and its visible keys V(i) (the keys of its full blocks, and those of its partial
// blocks where mask.Visible(i, j)):
//
//   s_ij = scale · q_i · k_j                         j ∈ V(i)
//   lse_i = log Σ_{j∈V(i)} e^{s_ij}                  (−∞ when V(i) is empty)
//   y_i  = Σ_{j∈V(i)} e^{s_ij − lse_i} v_j           (0 when V(i) is empty)
//
// computed with the online softmax over key blocks (running max m and sum l; y rescaled by e^{m_old − m_new}),
// so no T × T buffer exists. lse (B, H, T) is saved for the backward, which recomputes p_ij = e^{s_ij − lse_i}:
//
//   Δ_i  = dy_i · y_i
//   dv_j = Σ_i p_ij dy_i          dp_ij = dy_i · v_j          ds_ij = p_ij (dp_ij − Δ_i)
//   dq_i = scale Σ_j ds_ij k_j    dk_j  = scale Σ_i ds_ij q_i
//
// Gradients are written, not accumulated. The host (CPU) path and the ILGPU kernels (CUDA, and the CPU
// accelerator in tests) compute the same maths in fp32; see HostFlashAttention and FlashAttentionDevice.

/// <summary>Flash attention for one device: the host path on the CPU, ILGPU kernels elsewhere.</summary>
internal sealed class FlashAttentionKernels
{
    readonly Runtime.Device _device;
    readonly bool _host;
    FlashAttentionDevice? _kernels;

    public FlashAttentionKernels(Runtime.Device device) : this(device, forceKernels: false) { }

    /// <summary>Tests pass <paramref name="forceKernels"/> to run the ILGPU kernels on the CPU accelerator.</summary>
    internal FlashAttentionKernels(Runtime.Device device, bool forceKernels)
    {
        _device = device;
        _host = device.RunsOnHost && !forceKernels;
    }

    FlashAttentionDevice Kernels => _kernels ??= new FlashAttentionDevice(_device);

    /// <summary>y (B, H, T, D) and lse (B, H, T) from q, k, v (B, H, T, D).</summary>
    public void Forward<TMask>(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, int B, int H, int T, int D,
        float scale, in BlockSparsity blocks, TMask mask, ArrayView<float> y, ArrayView<float> lse)
        where TMask : struct, IMaskMod
    {
        const string op = "FlashAttention.Forward";
        Expect(op, B, H, T, D, blocks, (q, "q"), (k, "k"), (v, "v"), (y, "y"));
        Shapes.Expect(op, lse, "lse", ("B", B), ("H", H), ("T", T));
        if (_host) HostFlashAttention.Forward(q, k, v, B, H, T, D, scale, blocks, mask, y, lse);
        else Kernels.Forward(q, k, v, B, H, T, D, scale, blocks, mask, y, lse);
    }

    /// <summary>dq, dk, dv (B, H, T, D), written, from dy and the forward's q, k, v, y and lse.</summary>
    public void Backward<TMask>(ArrayView<float> dy, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        ArrayView<float> y, ArrayView<float> lse, int B, int H, int T, int D, float scale, in BlockSparsity blocks,
        TMask mask, ArrayView<float> dq, ArrayView<float> dk, ArrayView<float> dv)
        where TMask : struct, IMaskMod
    {
        const string op = "FlashAttention.Backward";
        Expect(op, B, H, T, D, blocks, (dy, "dy"), (q, "q"), (k, "k"), (v, "v"), (y, "y"), (dq, "dq"), (dk, "dk"), (dv, "dv"));
        Shapes.Expect(op, lse, "lse", ("B", B), ("H", H), ("T", T));
        if (_host) HostFlashAttention.Backward(dy, q, k, v, y, lse, B, H, T, D, scale, blocks, mask, dq, dk, dv);
        else Kernels.Backward(dy, q, k, v, y, lse, B, H, T, D, scale, blocks, mask, dq, dk, dv);
    }

    static void Expect(string op, int b, int h, int t, int d, in BlockSparsity blocks,
        params (ArrayView<float> View, string Name)[] views)
    {
        if (blocks.Length != t)
            throw new ArgumentException($"{op}: the block mask covers {blocks.Length} positions but the sequence has T={t}; " +
                                        "build the mask for this sequence length.");
        foreach (var (view, name) in views)
            Shapes.Expect(op, view, name, ("B", b), ("H", h), ("T", t), ("D", d));
    }
}

internal static class FlashAttentionOps
{
    public static FlashAttentionKernels FlashAttention(this Runtime.Device d) =>
        d.Kernels(static d => new FlashAttentionKernels(d));
}
