using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using Speedrun.Kernels.Blas;

namespace Speedrun.Kernels.Ops;

// Scaled dot-product attention on separate q, k, v of shape (B, NH, T, HS), materialising the scores
// (llm.c's attention path without cuDNN; flash attention replaces it later):
//
//   att = softmax(scale · q kᵀ)   (B, NH, T, T), saved for the backward; with the causal mask, row t sees
//                                   columns 0..t and masked entries are exactly 0
//   y   = att v                    (B, NH, T, HS)
//
// Backward:
//   dAtt = dy vᵀ                dv = attᵀ dy
//   dPre = scale · att ⊙ (dAtt - rowsum(att ⊙ dAtt))   (0 on masked entries)
//   dq = dPre k                 dk = dPreᵀ q
// The four products are strided-batched GEMMs over B·NH matrices; the softmax and its backward are
// row kernels (RowLanes threads per row). Input gradients are written, not accumulated.

internal static class AttentionKernelMethods
{
    /// <summary>
    /// In place on each row of att (B·NH·T rows of T): row t of a matrix becomes softmax(scale · att[0..last])
    /// followed by zeros, where last = t with the causal mask and T - 1 without. Entries past last are never read.
    /// </summary>
    [Kernel]
    internal static void SoftmaxKernel(ArrayView<float> att, int T, int rows, float scale, int causal, int lanes)
    {
        int lane = Threads.Index % lanes, row0 = Threads.Index / lanes, rowStride = Threads.Count / lanes;
        for (int row = row0; row < rows; row += rowStride)
        {
            var r = att.SubView((long)row * T, T);
            int last = causal != 0 ? row % T : T - 1;

            float max = -float.MaxValue;
            for (int j = lane; j <= last; j += lanes) max = XMath.Max(max, scale * r[j]);
            for (int o = lanes / 2; o > 0; o >>= 1) max = XMath.Max(max, Warp.ShuffleXor(max, o));

            float sum = 0f;
            for (int j = lane; j <= last; j += lanes)
            {
                float e = XMath.Exp(scale * r[j] - max);
                r[j] = e;
                sum += e;
            }
            for (int o = lanes / 2; o > 0; o >>= 1) sum += Warp.ShuffleXor(sum, o);

            float inverse = 1f / sum;
            for (int j = lane; j < T; j += lanes) r[j] = j <= last ? r[j] * inverse : 0f;
        }
    }

    /// <summary>
    /// Backward of the scaled (masked) softmax, in place on dAtt: on the visible part
    /// dPre = scale · att · (dAtt - Σ_j att_j dAtt_j), and 0 past the diagonal.
    /// </summary>
    [Kernel]
    internal static void SoftmaxBackwardKernel(ArrayView<float> att, ArrayView<float> dAtt, int T, int rows,
        float scale, int causal, int lanes)
    {
        int lane = Threads.Index % lanes, row0 = Threads.Index / lanes, rowStride = Threads.Count / lanes;
        for (int row = row0; row < rows; row += rowStride)
        {
            var a = att.SubView((long)row * T, T);
            var d = dAtt.SubView((long)row * T, T);
            int last = causal != 0 ? row % T : T - 1;

            float dot = 0f;
            for (int j = lane; j <= last; j += lanes) dot += a[j] * d[j];
            for (int o = lanes / 2; o > 0; o >>= 1) dot += Warp.ShuffleXor(dot, o);

            for (int j = lane; j < T; j += lanes) d[j] = j <= last ? scale * a[j] * (d[j] - dot) : 0f;
        }
    }
}

/// <summary>Loaded attention kernels for one device; every method checks shapes before launching.</summary>
internal sealed class AttentionKernels
{
    readonly Runtime.Device _device;
    readonly int _lanes;
    readonly bool _host;
    readonly Action<KernelConfig, ArrayView<float>, int, int, float, int, int> _softmax;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int, float, int, int> _softmaxBackward;

    public AttentionKernels(Runtime.Device device) : this(device, device.Launch.RowLanes) { }

    /// <summary>Tests use this to run the multi-lane (CUDA-style) row path on the CPU accelerator;
    /// <paramref name="rowLanes"/> must be 1 or the warp size.</summary>
    internal AttentionKernels(Runtime.Device device, int rowLanes)
    {
        _device = device;
        _lanes = Lanes.Check(device, rowLanes);
        _host = device.RunsOnHost && rowLanes == device.Launch.RowLanes; // an explicit lane count means: test the kernel
        var acc = device.Accelerator;
        _softmax = acc.LoadStreamKernel<ArrayView<float>, int, int, float, int, int>(AttentionKernelMethods.SoftmaxKernel);
        _softmaxBackward = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int, float, int, int>(
            AttentionKernelMethods.SoftmaxBackwardKernel);
    }

    KernelConfig RowGrid(long rows) => _device.Launch.For(rows * _lanes);

    /// <summary>The usual scale 1/√HS.</summary>
    public static float DefaultScale(int hs) => 1f / MathF.Sqrt(hs);

    /// <summary>
    /// att = softmax(scale · q kᵀ) (B, NH, T, T), saved for the backward; y = att v (B, NH, T, HS).
    /// q, k, v are (B, NH, T, HS).
    /// </summary>
    public void Forward(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, int B, int NH, int T, int HS,
        float scale, bool causal, ArrayView<float> att, ArrayView<float> y)
    {
        const string op = "Attention.Forward";
        ExpectHeads(op, B, NH, T, HS, (q, "q"), (k, "k"), (v, "v"), (y, "y"));
        Shapes.Expect(op, att, "att", ("B", B), ("NH", NH), ("T", T), ("T", T));
        int matrices = B * NH;
        var blas = _device.Blas;
        blas.Gemm(Gemm.DenseBatched(false, true, T, T, HS, matrices), q, k, att);
        if (_host) HostSimd.AttentionSoftmax(att, T, matrices * T, scale, causal);
        else _softmax(RowGrid((long)matrices * T), att, T, matrices * T, scale, causal ? 1 : 0, _lanes);
        blas.Gemm(Gemm.DenseBatched(false, false, T, HS, T, matrices), att, v, y);
    }

    /// <summary>
    /// Backward of <see cref="Forward"/>: from dy and the saved q, k, v, att, writes dq, dk, dv (B, NH, T, HS).
    /// Uses one pooled (B, NH, T, T) scratch buffer.
    /// </summary>
    public void Backward(ArrayView<float> dy, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        ArrayView<float> att, int B, int NH, int T, int HS, float scale, bool causal,
        ArrayView<float> dq, ArrayView<float> dk, ArrayView<float> dv)
    {
        const string op = "Attention.Backward";
        ExpectHeads(op, B, NH, T, HS, (dy, "dy"), (q, "q"), (k, "k"), (v, "v"), (dq, "dq"), (dk, "dk"), (dv, "dv"));
        Shapes.Expect(op, att, "att", ("B", B), ("NH", NH), ("T", T), ("T", T));
        int matrices = B * NH;
        var blas = _device.Blas;
        using var dAtt = _device.Pool.Rent<float>(att.Length);
        blas.Gemm(Gemm.DenseBatched(false, true, T, T, HS, matrices), dy, v, dAtt.View);
        blas.Gemm(Gemm.DenseBatched(true, false, T, HS, T, matrices), att, dy, dv);
        if (_host) HostSimd.AttentionSoftmaxBackward(att, dAtt.View, T, matrices * T, scale, causal);
        else _softmaxBackward(RowGrid((long)matrices * T), att, dAtt.View, T, matrices * T, scale, causal ? 1 : 0, _lanes);
        blas.Gemm(Gemm.DenseBatched(false, false, T, HS, T, matrices), dAtt.View, k, dq);
        blas.Gemm(Gemm.DenseBatched(true, false, T, HS, T, matrices), dAtt.View, q, dk);
    }

    static void ExpectHeads(string op, int b, int nh, int t, int hs, params (ArrayView<float> View, string Name)[] views)
    {
        foreach (var (view, name) in views)
            Shapes.Expect(op, view, name, ("B", b), ("NH", nh), ("T", t), ("HS", hs));
    }
}

internal static class AttentionOps
{
    public static AttentionKernels Attention(this Runtime.Device d) => d.Kernels(static d => new AttentionKernels(d));
}
