using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Speedrun.Kernels.Ops;

// Softmax cross-entropy over the vocabulary, loss and gradient in one kernel (llm.c's fused classifier):
//
//   logits z (N rows, row stride Vp >= V; only columns 0..V-1 are classes), targets (N ints)
//   loss_n = logsumexp_j(z_j) - z_target                                    (losses: N, written)
//   dz_j   = dLossScale * (softmax(z)_j - [j == target])                    (dLogits: N x Vp, written)
//            columns V..Vp-1 of dLogits are written as 0.
//
// A row whose target is negative (ignore_index) or >= V (not a class) is ignored: loss 0, gradient 0.
// dLossScale is the caller's (1/N for a mean loss, 1/count of non-ignored rows for PyTorch's mean
// with ignore_index). dLogits may be the same view as logits (in place): each lane reads a column
// before it writes that column, and the target's value reaches the other lanes through shuffles.
// Max and sum are computed online in one pass (per lane, then merged across the row's lanes), the
// gradient in a second pass.

internal static class CrossEntropyKernelMethods
{
    /// <summary>Loss and gradient of each row; see the file header.</summary>
    [Kernel]
    internal static void ForwardBackwardKernel(ArrayView<float> logits, ArrayView<int> targets, int V, int Vp,
        float dLossScale, ArrayView<float> losses, ArrayView<float> dLogits, int lanes)
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

            var stats = RowStatistics(z, V, target, lane, lanes);
            if (lane == 0) losses[row] = XMath.Log(stats.Sum) + stats.Max - stats.Target;

            float inverseSum = 1f / stats.Sum;
            for (int j = lane; j < Vp; j += lanes)
            {
                if (j >= V)
                {
                    dz[j] = 0f;
                    continue;
                }
                float p = XMath.Exp(z[j] - stats.Max) * inverseSum;
                dz[j] = (j == target ? p - 1f : p) * dLossScale;
            }
        }
    }

    /// <summary>Loss of each row only (validation); same definition as the fused kernel.</summary>
    [Kernel]
    internal static void ForwardKernel(ArrayView<float> logits, ArrayView<int> targets, int V, int Vp,
        ArrayView<float> losses, int lanes)
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
            var stats = RowStatistics(logits.SubView((long)row * Vp, Vp), V, target, lane, lanes);
            if (lane == 0) losses[row] = XMath.Log(stats.Sum) + stats.Max - stats.Target;
        }
    }

    /// <summary>Max, sum of exp(z - max) and the target's z over columns 0..V-1, merged over the row's lanes
    /// (every lane ends with the row's values).</summary>
    static RowStats RowStatistics(ArrayView<float> z, int V, int target, int lane, int lanes)
    {
        float max = -float.MaxValue, sum = 0f, atTarget = 0f;
        for (int j = lane; j < V; j += lanes)
        {
            float c = z[j];
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

    internal readonly struct RowStats(float max, float sum, float target)
    {
        public readonly float Max = max;
        public readonly float Sum = sum;
        public readonly float Target = target;
    }
}

/// <summary>Loaded cross-entropy kernels for one device; every method checks shapes before launching.</summary>
internal sealed class CrossEntropyKernels
{
    readonly Runtime.Device _device;
    readonly int _lanes;
    readonly bool _host;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<int>, int, int, float, ArrayView<float>,
        ArrayView<float>, int> _forwardBackward;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<int>, int, int, ArrayView<float>, int> _forward;

    public CrossEntropyKernels(Runtime.Device device) : this(device, device.Launch.RowLanes) { }

    /// <summary>Tests use this to run the multi-lane (CUDA-style) row path on the CPU accelerator.</summary>
    internal CrossEntropyKernels(Runtime.Device device, int rowLanes)
    {
        _device = device;
        _lanes = Lanes.Check(device, rowLanes);
        _host = device.RunsOnHost && rowLanes == device.Launch.RowLanes; // an explicit lane count means: test the kernel
        var acc = device.Accelerator;
        _forwardBackward = acc.LoadStreamKernel<ArrayView<float>, ArrayView<int>, int, int, float,
            ArrayView<float>, ArrayView<float>, int>(CrossEntropyKernelMethods.ForwardBackwardKernel);
        _forward = acc.LoadStreamKernel<ArrayView<float>, ArrayView<int>, int, int, ArrayView<float>, int>(
            CrossEntropyKernelMethods.ForwardKernel);
    }

    KernelConfig RowGrid(long rows) => _device.Launch.For(rows * _lanes);

    /// <summary>
    /// Per-row loss and the gradient of (dLossScale * sum of losses) with respect to the logits, in one pass.
    /// <paramref name="dLogits"/> may be <paramref name="logits"/> itself.
    /// </summary>
    public void ForwardBackward(ArrayView<float> logits, ArrayView<int> targets, int N, int V, int Vp,
        float dLossScale, ArrayView<float> losses, ArrayView<float> dLogits)
    {
        const string op = "CrossEntropy.ForwardBackward";
        Validate(op, logits, targets, N, V, Vp, losses);
        Shapes.Expect(op, dLogits, "dLogits", ("N", N), ("Vp", Vp));
        if (_host) HostSimd.CrossEntropy(logits, targets, N, V, Vp, dLossScale, losses, dLogits);
        else _forwardBackward(RowGrid(N), logits, targets, V, Vp, dLossScale, losses, dLogits, _lanes);
    }

    /// <summary>Per-row loss only (validation).</summary>
    public void Forward(ArrayView<float> logits, ArrayView<int> targets, int N, int V, int Vp,
        ArrayView<float> losses)
    {
        const string op = "CrossEntropy.Forward";
        Validate(op, logits, targets, N, V, Vp, losses);
        if (_host) HostSimd.CrossEntropy(logits, targets, N, V, Vp, 0f, losses, default);
        else _forward(RowGrid(N), logits, targets, V, Vp, losses, _lanes);
    }

    static void Validate(string op, ArrayView<float> logits, ArrayView<int> targets, int n, int v, int vp,
        ArrayView<float> losses)
    {
        if (v < 1 || vp < v)
            throw new ArgumentException($"{op}: need 1 <= V <= Vp, got V={v}, Vp={vp}.");
        Shapes.Expect(op, logits, "logits", ("N", n), ("Vp", vp));
        Shapes.Expect(op, targets, "targets", ("N", n));
        Shapes.Expect(op, losses, "losses", ("N", n));
    }
}

internal static class CrossEntropyOps
{
    public static CrossEntropyKernels CrossEntropy(this Runtime.Device d) =>
        d.Kernels(static d => new CrossEntropyKernels(d));
}
