using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using Speedrun.Kernels.Blas;
using Speedrun.Kernels.Device;

namespace Speedrun.Kernels.Ops;

// Causal self-attention, GPT-2 style, as separate steps so later records can insert RoPE or QK-norm
// between them (the layout and the split into steps follow llm.c's attention path without cuDNN).
//
//   qkv (B, T, 3C), C = NH*HS, each row laid out [q | k | v]; head h owns columns h*HS .. (h+1)*HS-1
//   of each part.
//   SplitHeads:  qkv -> q, k, v, each (B, NH, T, HS)
//   Core:        att = causal_softmax(scale * q k^T)   (B, NH, T, T), saved for the backward;
//                masked entries (column > row) are exactly 0
//                yHeads = att v                        (B, NH, T, HS)
//   MergeHeads:  yHeads -> y (B, T, C)
//
// Backward, in reverse: SplitHeadGrads (dy -> dyHeads), CoreBackward, MergeHeadGrads (dq, dk, dv -> dqkv):
//   dAtt = dyHeads v^T          dv = att^T dyHeads
//   dPre = scale * att * (dAtt - rowsum(att * dAtt))   on the causal part, 0 elsewhere
//   dq = dPre k                 dk = dPre^T q
// The four products are strided-batched GEMMs over B*NH matrices; the softmax and its backward are
// row kernels (RowLanes threads per row). Gradients with respect to inputs are written, not accumulated.

public static class AttentionKernelMethods
{
    /// <summary>qkv (B, T, 3C) -> q, k, v (B, NH, T, HS). One work item per element of q.</summary>
    [Kernel]
    internal static void SplitHeadsKernel(ArrayView<float> qkv, ArrayView<float> q, ArrayView<float> k,
        ArrayView<float> v, int T, int NH, int HS)
    {
        int c = NH * HS;
        int iEnd = q.IntLength, iStride = Threads.Count; // hoisted: each read is a call on the CPU accelerator
        for (int i = Threads.Index; i < iEnd; i += iStride)
        {
            int src = PackedOffset(i, T, NH, HS, 3 * c);
            q[i] = qkv[src];
            k[i] = qkv[src + c];
            v[i] = qkv[src + 2 * c];
        }
    }

    /// <summary>Backward of SplitHeads: dq, dk, dv (B, NH, T, HS) -> dqkv (B, T, 3C), written.</summary>
    [Kernel]
    internal static void MergeHeadGradsKernel(ArrayView<float> dq, ArrayView<float> dk, ArrayView<float> dv,
        ArrayView<float> dqkv, int T, int NH, int HS)
    {
        int c = NH * HS;
        int iEnd = dq.IntLength, iStride = Threads.Count; // hoisted: each read is a call on the CPU accelerator
        for (int i = Threads.Index; i < iEnd; i += iStride)
        {
            int dst = PackedOffset(i, T, NH, HS, 3 * c);
            dqkv[dst] = dq[i];
            dqkv[dst + c] = dk[i];
            dqkv[dst + 2 * c] = dv[i];
        }
    }

    /// <summary>yHeads (B, NH, T, HS) -> y (B, T, C).</summary>
    [Kernel]
    internal static void MergeHeadsKernel(ArrayView<float> yHeads, ArrayView<float> y, int T, int NH, int HS)
    {
        int iEnd = yHeads.IntLength, iStride = Threads.Count; // hoisted: each read is a call on the CPU accelerator
        for (int i = Threads.Index; i < iEnd; i += iStride)
            y[PackedOffset(i, T, NH, HS, NH * HS)] = yHeads[i];
    }

    /// <summary>Backward of MergeHeads: dy (B, T, C) -> dyHeads (B, NH, T, HS), written.</summary>
    [Kernel]
    internal static void SplitHeadGradsKernel(ArrayView<float> dy, ArrayView<float> dyHeads, int T, int NH, int HS)
    {
        int iEnd = dyHeads.IntLength, iStride = Threads.Count; // hoisted: each read is a call on the CPU accelerator
        for (int i = Threads.Index; i < iEnd; i += iStride)
            dyHeads[i] = dy[PackedOffset(i, T, NH, HS, NH * HS)];
    }

    /// <summary>
    /// In place on each row of att (B*NH*T rows of T): row t of a matrix becomes
    /// softmax(scale * att[0..t]) followed by zeros. Entries past the diagonal are never read.
    /// </summary>
    [Kernel]
    internal static void CausalSoftmaxKernel(ArrayView<float> att, int T, int rows, float scale, int lanes)
    {
        int lane = Threads.Index % lanes, row0 = Threads.Index / lanes, rowStride = Threads.Count / lanes;
        for (int row = row0; row < rows; row += rowStride)
        {
            var r = att.SubView((long)row * T, T);
            int last = row % T; // the diagonal: columns 0..last are visible

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
    /// Backward of the scaled causal softmax, in place on dAtt: on the causal part
    /// dPre = scale * att * (dAtt - sum_j att_j dAtt_j), and 0 past the diagonal.
    /// </summary>
    [Kernel]
    internal static void CausalSoftmaxBackwardKernel(ArrayView<float> att, ArrayView<float> dAtt, int T, int rows,
        float scale, int lanes)
    {
        int lane = Threads.Index % lanes, row0 = Threads.Index / lanes, rowStride = Threads.Count / lanes;
        for (int row = row0; row < rows; row += rowStride)
        {
            var a = att.SubView((long)row * T, T);
            var d = dAtt.SubView((long)row * T, T);
            int last = row % T;

            float dot = 0f;
            for (int j = lane; j <= last; j += lanes) dot += a[j] * d[j];
            for (int o = lanes / 2; o > 0; o >>= 1) dot += Warp.ShuffleXor(dot, o);

            for (int j = lane; j < T; j += lanes) d[j] = j <= last ? scale * a[j] * (d[j] - dot) : 0f;
        }
    }

    /// <summary>Offset in a (B, T, rowWidth) tensor of element i of a (B, NH, T, HS) tensor.</summary>
    static int PackedOffset(int i, int T, int NH, int HS, int rowWidth)
    {
        int d = i % HS;
        int rest = i / HS;
        int t = rest % T;
        rest /= T;
        int h = rest % NH;
        int b = rest / NH;
        return (b * T + t) * rowWidth + h * HS + d;
    }
}

/// <summary>
/// What the attention forward keeps for its backward: q, k, v (B, NH, T, HS) and the softmax
/// probabilities att (B, NH, T, T), all rented from the device pool. Dispose after the backward.
/// </summary>
public sealed class AttentionState : IDisposable
{
    readonly PooledBuffer<float> _q, _k, _v, _att;

    internal AttentionState(Device.Device device, int b, int t, int nh, int hs, float scale)
    {
        B = b; T = t; NH = nh; HS = hs; Scale = scale;
        long heads = (long)b * nh * t * hs;
        _q = device.Pool.Rent<float>(heads);
        _k = device.Pool.Rent<float>(heads);
        _v = device.Pool.Rent<float>(heads);
        _att = device.Pool.Rent<float>((long)b * nh * t * t);
    }

    public int B { get; }
    public int T { get; }
    public int NH { get; }
    public int HS { get; }
    public float Scale { get; }
    public ArrayView<float> Q => _q.View;
    public ArrayView<float> K => _k.View;
    public ArrayView<float> V => _v.View;
    public ArrayView<float> Att => _att.View;

    public void Dispose()
    {
        _q.Dispose();
        _k.Dispose();
        _v.Dispose();
        _att.Dispose();
    }
}

/// <summary>Loaded attention kernels for one device; every method checks shapes before launching.</summary>
public sealed class AttentionKernels
{
    readonly Device.Device _device;
    readonly int _lanes;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>
        _splitHeads, _mergeHeadGrads;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int, int> _mergeHeads, _splitHeadGrads;
    readonly Action<KernelConfig, ArrayView<float>, int, int, float, int> _softmax;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int, float, int> _softmaxBackward;

    public AttentionKernels(Device.Device device) : this(device, device.Launch.RowLanes) { }

    /// <summary>Tests use this to run the multi-lane (CUDA-style) row path on the CPU accelerator;
    /// <paramref name="rowLanes"/> must be 1 or the warp size.</summary>
    internal AttentionKernels(Device.Device device, int rowLanes)
    {
        _device = device;
        _lanes = Lanes.Check(device, rowLanes);
        var acc = device.Accelerator;
        _splitHeads = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(
            AttentionKernelMethods.SplitHeadsKernel);
        _mergeHeadGrads = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(
            AttentionKernelMethods.MergeHeadGradsKernel);
        _mergeHeads = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int, int>(
            AttentionKernelMethods.MergeHeadsKernel);
        _splitHeadGrads = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int, int>(
            AttentionKernelMethods.SplitHeadGradsKernel);
        _softmax = acc.LoadStreamKernel<ArrayView<float>, int, int, float, int>(
            AttentionKernelMethods.CausalSoftmaxKernel);
        _softmaxBackward = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int, float, int>(
            AttentionKernelMethods.CausalSoftmaxBackwardKernel);
    }

    KernelConfig Grid(long n) => _device.Launch.For(n);
    KernelConfig RowGrid(long rows) => _device.Launch.For(rows * _lanes);

    /// <summary>The usual scale 1/sqrt(HS).</summary>
    public static float DefaultScale(int hs) => 1f / MathF.Sqrt(hs);

    /// <summary>qkv (B, T, 3*NH*HS) -> q, k, v, each (B, NH, T, HS).</summary>
    public void SplitHeads(ArrayView<float> qkv, int B, int T, int NH, int HS,
        ArrayView<float> q, ArrayView<float> k, ArrayView<float> v)
    {
        const string op = "Attention.SplitHeads";
        Shapes.Expect(op, qkv, "qkv", ("B", B), ("T", T), ("3C", 3L * NH * HS));
        ExpectHeads(op, B, NH, T, HS, (q, "q"), (k, "k"), (v, "v"));
        _splitHeads(Grid(q.Length), qkv, q, k, v, T, NH, HS);
    }

    /// <summary>Backward of SplitHeads: dq, dk, dv (B, NH, T, HS) -> dqkv (B, T, 3C), written.</summary>
    public void MergeHeadGrads(ArrayView<float> dq, ArrayView<float> dk, ArrayView<float> dv, int B, int T, int NH,
        int HS, ArrayView<float> dqkv)
    {
        const string op = "Attention.MergeHeadGrads";
        ExpectHeads(op, B, NH, T, HS, (dq, "dq"), (dk, "dk"), (dv, "dv"));
        Shapes.Expect(op, dqkv, "dqkv", ("B", B), ("T", T), ("3C", 3L * NH * HS));
        _mergeHeadGrads(Grid(dq.Length), dq, dk, dv, dqkv, T, NH, HS);
    }

    /// <summary>yHeads (B, NH, T, HS) -> y (B, T, NH*HS).</summary>
    public void MergeHeads(ArrayView<float> yHeads, int B, int T, int NH, int HS, ArrayView<float> y)
    {
        const string op = "Attention.MergeHeads";
        ExpectHeads(op, B, NH, T, HS, (yHeads, "yHeads"));
        Shapes.Expect(op, y, "y", ("B", B), ("T", T), ("C", (long)NH * HS));
        _mergeHeads(Grid(y.Length), yHeads, y, T, NH, HS);
    }

    /// <summary>Backward of MergeHeads: dy (B, T, NH*HS) -> dyHeads (B, NH, T, HS), written.</summary>
    public void SplitHeadGrads(ArrayView<float> dy, int B, int T, int NH, int HS, ArrayView<float> dyHeads)
    {
        const string op = "Attention.SplitHeadGrads";
        Shapes.Expect(op, dy, "dy", ("B", B), ("T", T), ("C", (long)NH * HS));
        ExpectHeads(op, B, NH, T, HS, (dyHeads, "dyHeads"));
        _splitHeadGrads(Grid(dy.Length), dy, dyHeads, T, NH, HS);
    }

    /// <summary>
    /// att = causal_softmax(scale * q k^T) (B, NH, T, T), saved for the backward;
    /// yHeads = att v (B, NH, T, HS). q, k, v are (B, NH, T, HS).
    /// </summary>
    public void Core(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, int B, int NH, int T, int HS,
        float scale, ArrayView<float> att, ArrayView<float> yHeads)
    {
        const string op = "Attention.Core";
        ExpectHeads(op, B, NH, T, HS, (q, "q"), (k, "k"), (v, "v"), (yHeads, "yHeads"));
        Shapes.Expect(op, att, "att", ("B", B), ("NH", NH), ("T", T), ("T", T));
        int matrices = B * NH;
        var blas = _device.Blas;
        blas.Gemm(Gemm.DenseBatched(false, true, T, T, HS, matrices), q, k, att);
        _softmax(RowGrid((long)matrices * T), att, T, matrices * T, scale, _lanes);
        blas.Gemm(Gemm.DenseBatched(false, false, T, HS, T, matrices), att, v, yHeads);
    }

    /// <summary>
    /// Backward of Core: from dyHeads and the saved q, k, v, att, writes dq, dk, dv (B, NH, T, HS).
    /// Uses one pooled (B, NH, T, T) scratch buffer.
    /// </summary>
    public void CoreBackward(ArrayView<float> dyHeads, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        ArrayView<float> att, int B, int NH, int T, int HS, float scale,
        ArrayView<float> dq, ArrayView<float> dk, ArrayView<float> dv)
    {
        const string op = "Attention.CoreBackward";
        ExpectHeads(op, B, NH, T, HS, (dyHeads, "dyHeads"), (q, "q"), (k, "k"), (v, "v"), (dq, "dq"), (dk, "dk"),
            (dv, "dv"));
        Shapes.Expect(op, att, "att", ("B", B), ("NH", NH), ("T", T), ("T", T));
        int matrices = B * NH;
        var blas = _device.Blas;
        using var dAtt = _device.Pool.Rent<float>(att.Length);
        blas.Gemm(Gemm.DenseBatched(false, true, T, T, HS, matrices), dyHeads, v, dAtt.View);
        blas.Gemm(Gemm.DenseBatched(true, false, T, HS, T, matrices), att, dyHeads, dv);
        _softmaxBackward(RowGrid((long)matrices * T), att, dAtt.View, T, matrices * T, scale, _lanes);
        blas.Gemm(Gemm.DenseBatched(false, false, T, HS, T, matrices), dAtt.View, k, dq);
        blas.Gemm(Gemm.DenseBatched(true, false, T, HS, T, matrices), dAtt.View, q, dk);
    }

    /// <summary>
    /// The whole forward: qkv (B, T, 3C) -> y (B, T, C). Returns what the backward needs (pooled; dispose
    /// it after <see cref="Backward"/>). <paramref name="scale"/> defaults to 1/sqrt(HS).
    /// </summary>
    public AttentionState Forward(ArrayView<float> qkv, int B, int T, int NH, int HS, ArrayView<float> y,
        float? scale = null)
    {
        const string op = "Attention.Forward";
        Shapes.Expect(op, qkv, "qkv", ("B", B), ("T", T), ("3C", 3L * NH * HS));
        Shapes.Expect(op, y, "y", ("B", B), ("T", T), ("C", (long)NH * HS));
        if ((long)B * NH * T * T > int.MaxValue)
            throw new ArgumentException(
                $"{op}: att (B={B}, NH={NH}, T={T}, T={T}) exceeds 2^31 elements (32-bit indexing).");
        var state = new AttentionState(_device, B, T, NH, HS, scale ?? DefaultScale(HS));
        try
        {
            using var yHeads = _device.Pool.Rent<float>(y.Length);
            SplitHeads(qkv, B, T, NH, HS, state.Q, state.K, state.V);
            Core(state.Q, state.K, state.V, B, NH, T, HS, state.Scale, state.Att, yHeads.View);
            MergeHeads(yHeads.View, B, T, NH, HS, y);
            return state;
        }
        catch
        {
            state.Dispose();
            throw;
        }
    }

    /// <summary>The whole backward: dy (B, T, C) -> dqkv (B, T, 3C), written. Does not dispose the state.</summary>
    public void Backward(AttentionState state, ArrayView<float> dy, ArrayView<float> dqkv)
    {
        const string op = "Attention.Backward";
        int B = state.B, T = state.T, NH = state.NH, HS = state.HS;
        Shapes.Expect(op, dy, "dy", ("B", B), ("T", T), ("C", (long)NH * HS));
        Shapes.Expect(op, dqkv, "dqkv", ("B", B), ("T", T), ("3C", 3L * NH * HS));
        var pool = _device.Pool;
        using var dyHeads = pool.Rent<float>(dy.Length);
        using var dq = pool.Rent<float>(dy.Length);
        using var dk = pool.Rent<float>(dy.Length);
        using var dv = pool.Rent<float>(dy.Length);
        SplitHeadGrads(dy, B, T, NH, HS, dyHeads.View);
        CoreBackward(dyHeads.View, state.Q, state.K, state.V, state.Att, B, NH, T, HS, state.Scale,
            dq.View, dk.View, dv.View);
        MergeHeadGrads(dq.View, dk.View, dv.View, B, T, NH, HS, dqkv);
    }

    static void ExpectHeads(string op, int b, int nh, int t, int hs, params (ArrayView<float> View, string Name)[] views)
    {
        foreach (var (view, name) in views)
            Shapes.Expect(op, view, name, ("B", b), ("NH", nh), ("T", t), ("HS", hs));
    }
}

public static class AttentionOps
{
    public static AttentionKernels Attention(this Device.Device d) => d.Kernels(static d => new AttentionKernels(d));
}
