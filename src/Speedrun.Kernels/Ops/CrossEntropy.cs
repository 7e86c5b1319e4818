using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Speedrun.Kernels.Ops;

// Softmax cross-entropy over the vocabulary, loss and gradient in one kernel (llm.c's fused classifier):
//
//   logits (N rows, row stride Vp >= V; only columns 0..V-1 are read), targets (N ints)
//   c_j    = z_j                       without softcap (softcap = 0)
//          = s * tanh(z_j / s)         with softcap s > 0
//   loss_n = logsumexp_j(c_j) - c_target                                    (losses: N, written)
//   dz_j   = dLossScale * (softmax(c)_j - [j == target]) * dc_j/dz_j        (dLogits: N x Vp, written)
//            with dc/dz = 1 - tanh^2(z/s) under the softcap; columns V..Vp-1 of dLogits are written as 0.
//
// A row whose target is negative (ignore_index) or >= V (not a class) is ignored: loss 0, gradient 0.
// dLossScale is the caller's (1/N for a mean loss, 1/count of non-ignored rows for PyTorch's mean
// with ignore_index). dLogits may be the same view as logits (in place): each lane reads a column
// before it writes that column, and the target's value reaches the other lanes through shuffles.
// Max and sum are computed online in one pass (per lane, then merged across the row's lanes), the
// gradient in a second pass. tanh is evaluated with a series / exp form accurate to a few 1e-7 on both
// devices (PTX's tanh.approx is only good to about 5e-4).

public static class CrossEntropyKernelMethods
{
    /// <summary>Loss and gradient of each row; see the file header.</summary>
    [Kernel]
    internal static void ForwardBackwardKernel(ArrayView<float> logits, ArrayView<int> targets, int V, int Vp,
        float dLossScale, float softcap, ArrayView<float> losses, ArrayView<float> dLogits, int lanes)
    {
        int lane = Threads.Index % lanes, row0 = Threads.Index / lanes, rowStride = Threads.Count / lanes;
        int rows = targets.IntLength;
        for (int row = row0; row < rows; row += rowStride)
        {
            var z = logits.SubView((long)row * Vp, Vp);
            var dz = dLogits.SubView((long)row * Vp, Vp);
            int target = targets[row];
            if (target < 0 || target >= V)
            {
                if (lane == 0) losses[row] = 0f;
                for (int j = lane; j < Vp; j += lanes) dz[j] = 0f;
                continue;
            }

            var stats = RowStatistics(z, V, target, softcap, lane, lanes);
            if (lane == 0) losses[row] = XMath.Log(stats.Sum) + stats.Max - stats.Target;

            float inverseSum = 1f / stats.Sum;
            for (int j = lane; j < Vp; j += lanes)
            {
                if (j >= V)
                {
                    dz[j] = 0f;
                    continue;
                }
                float x = z[j];
                float c = x, chain = 1f;
                if (softcap > 0f)
                {
                    float th = Tanh(x / softcap);
                    c = softcap * th;
                    chain = 1f - th * th;
                }
                float p = XMath.Exp(c - stats.Max) * inverseSum;
                dz[j] = (j == target ? p - 1f : p) * dLossScale * chain;
            }
        }
    }

    /// <summary>Loss of each row only (validation); same definition as the fused kernel.</summary>
    [Kernel]
    internal static void ForwardKernel(ArrayView<float> logits, ArrayView<int> targets, int V, int Vp,
        float softcap, ArrayView<float> losses, int lanes)
    {
        int lane = Threads.Index % lanes, row0 = Threads.Index / lanes, rowStride = Threads.Count / lanes;
        int rows = targets.IntLength;
        for (int row = row0; row < rows; row += rowStride)
        {
            int target = targets[row];
            if (target < 0 || target >= V)
            {
                if (lane == 0) losses[row] = 0f;
                continue;
            }
            var stats = RowStatistics(logits.SubView((long)row * Vp, Vp), V, target, softcap, lane, lanes);
            if (lane == 0) losses[row] = XMath.Log(stats.Sum) + stats.Max - stats.Target;
        }
    }

    /// <summary>Max, sum of exp(c - max) and the target's c over columns 0..V-1, merged over the row's lanes
    /// (every lane ends with the row's values).</summary>
    static RowStats RowStatistics(ArrayView<float> z, int V, int target, float softcap, int lane, int lanes)
    {
        float max = -float.MaxValue, sum = 0f, atTarget = 0f;
        for (int j = lane; j < V; j += lanes)
        {
            float c = softcap > 0f ? softcap * Tanh(z[j] / softcap) : z[j];
            if (j == target) atTarget = c;
            if (c > max)
            {
                sum = sum * XMath.Exp(max - c) + 1f;
                max = c;
            }
            else
            {
                sum += XMath.Exp(c - max); // NaN logits land here and poison the sum, as they should
            }
        }
        for (int o = lanes / 2; o > 0; o >>= 1)
        {
            float otherMax = Warp.ShuffleXor(max, o);
            float otherSum = Warp.ShuffleXor(sum, o);
            atTarget += Warp.ShuffleXor(atTarget, o); // one lane holds it, the others hold 0
            float merged = max > otherMax ? max : otherMax;
            sum = sum * XMath.Exp(max - merged) + otherSum * XMath.Exp(otherMax - merged);
            max = merged;
        }
        return new RowStats(max, sum, atTarget);
    }

    /// <summary>
    /// tanh(x) to a few 1e-7 relative with only exp: an odd Taylor series below |x| = 0.25 (next term
    /// below 1e-8 relative), else (1 - e) / (1 + e) with e = exp(-2|x|) (no cancellation there).
    /// </summary>
    internal static float Tanh(float x)
    {
        float a = XMath.Abs(x);
        if (a < 0.25f)
        {
            float x2 = x * x;
            return x * (1f + x2 * (-1f / 3f + x2 * (2f / 15f + x2 * (-17f / 315f + x2 * (62f / 2835f)))));
        }
        float e = XMath.Exp(-2f * a);
        float t = (1f - e) / (1f + e);
        return x < 0f ? -t : t;
    }

    internal readonly struct RowStats(float max, float sum, float target)
    {
        public readonly float Max = max;
        public readonly float Sum = sum;
        public readonly float Target = target;
    }
}

/// <summary>Loaded cross-entropy kernels for one device; every method checks shapes before launching.</summary>
public sealed class CrossEntropyKernels
{
    readonly Device.Device _device;
    readonly int _lanes;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<int>, int, int, float, float, ArrayView<float>,
        ArrayView<float>, int> _forwardBackward;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<int>, int, int, float, ArrayView<float>, int> _forward;

    public CrossEntropyKernels(Device.Device device) : this(device, device.Launch.RowLanes) { }

    /// <summary>Tests use this to run the multi-lane (CUDA-style) row path on the CPU accelerator.</summary>
    internal CrossEntropyKernels(Device.Device device, int rowLanes)
    {
        _device = device;
        _lanes = Lanes.Check(device, rowLanes);
        var acc = device.Accelerator;
        _forwardBackward = acc.LoadStreamKernel<ArrayView<float>, ArrayView<int>, int, int, float, float,
            ArrayView<float>, ArrayView<float>, int>(CrossEntropyKernelMethods.ForwardBackwardKernel);
        _forward = acc.LoadStreamKernel<ArrayView<float>, ArrayView<int>, int, int, float, ArrayView<float>, int>(
            CrossEntropyKernelMethods.ForwardKernel);
    }

    KernelConfig RowGrid(long rows) => _device.Launch.For(rows * _lanes);

    /// <summary>
    /// Per-row loss and the gradient of (dLossScale * sum of losses) with respect to the logits, in one pass.
    /// <paramref name="dLogits"/> may be <paramref name="logits"/> itself. <paramref name="softcap"/> 0 means none.
    /// </summary>
    public void ForwardBackward(ArrayView<float> logits, ArrayView<int> targets, int N, int V, int Vp,
        float dLossScale, float softcap, ArrayView<float> losses, ArrayView<float> dLogits)
    {
        const string op = "CrossEntropy.ForwardBackward";
        Validate(op, logits, targets, N, V, Vp, softcap, losses);
        Shapes.Expect(op, dLogits, "dLogits", ("N", N), ("Vp", Vp));
        _forwardBackward(RowGrid(N), logits, targets, V, Vp, dLossScale, softcap, losses, dLogits, _lanes);
    }

    /// <summary>Per-row loss only (validation).</summary>
    public void Forward(ArrayView<float> logits, ArrayView<int> targets, int N, int V, int Vp, float softcap,
        ArrayView<float> losses)
    {
        const string op = "CrossEntropy.Forward";
        Validate(op, logits, targets, N, V, Vp, softcap, losses);
        _forward(RowGrid(N), logits, targets, V, Vp, softcap, losses, _lanes);
    }

    static void Validate(string op, ArrayView<float> logits, ArrayView<int> targets, int n, int v, int vp,
        float softcap, ArrayView<float> losses)
    {
        if (v < 1 || vp < v)
            throw new ArgumentException($"{op}: need 1 <= V <= Vp, got V={v}, Vp={vp}.");
        if (!(softcap >= 0f) || float.IsInfinity(softcap))
            throw new ArgumentException($"{op}: softcap must be 0 (none) or a positive finite number, got {softcap}.");
        Shapes.Expect(op, logits, "logits", ("N", n), ("Vp", vp));
        Shapes.Expect(op, targets, "targets", ("N", n));
        Shapes.Expect(op, losses, "losses", ("N", n));
    }
}

public static class CrossEntropyOps
{
    public static CrossEntropyKernels CrossEntropy(this Device.Device d) =>
        d.Kernels(static d => new CrossEntropyKernels(d));
}
