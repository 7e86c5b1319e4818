using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Speedrun.Kernels.Ops;

// Weightless RMSNorm over the last dimension (modded-nanogpt's norm):
//
//   forward   r = 1/sqrt(mean_c(x²) + eps),  y = x·r              x, y: (N, C); r saved: (N)
//   backward  dx = r·(dy - x·r²·mean_c(dy·x))                     dy, dx: (N, C); dx written
//
// (from y_j = x_j·r and ∂r/∂x_j = -r³·x_j/C). One row per `lanes` threads (see Lanes); all sums are
// fp32 in a fixed order. 1/sqrt is sqrt.rn and div.rn on CUDA, not rsqrt.approx.

internal static class RmsNormKernelMethods
{
    [Kernel]
    internal static void ForwardKernel(
        ArrayView<float> x, int rows, int cols, float eps, ArrayView<float> y, ArrayView<float> rstd, int lanes)
    {
        int lane = Lanes.Lane(lanes);
        int rowStride = Lanes.RowStride(lanes);
        for (int row = Lanes.FirstRow(lanes); row < rows; row += rowStride)
        {
            var xr = x.SubView(row * cols, cols);
            var yr = y.SubView(row * cols, cols);
            float sumSquares = 0f;
            for (int c = lane; c < cols; c += lanes) sumSquares += xr[c] * xr[c];
            sumSquares = Lanes.Sum(sumSquares, lanes);
            float r = 1f / XMath.Sqrt(sumSquares / cols + eps);
            for (int c = lane; c < cols; c += lanes) yr[c] = xr[c] * r;
            if (lane == 0) rstd[row] = r;
        }
    }

    [Kernel]
    internal static void BackwardKernel(
        ArrayView<float> dy, ArrayView<float> x, ArrayView<float> rstd, int rows, int cols, ArrayView<float> dx,
        int lanes)
    {
        int lane = Lanes.Lane(lanes);
        int rowStride = Lanes.RowStride(lanes);
        for (int row = Lanes.FirstRow(lanes); row < rows; row += rowStride)
        {
            var xr = x.SubView(row * cols, cols);
            var dyr = dy.SubView(row * cols, cols);
            var dxr = dx.SubView(row * cols, cols);
            float dot = 0f;
            for (int c = lane; c < cols; c += lanes) dot += dyr[c] * xr[c];
            dot = Lanes.Sum(dot, lanes);
            float r = rstd[row];
            float k = r * r * dot / cols;
            for (int c = lane; c < cols; c += lanes) dxr[c] = r * (dyr[c] - xr[c] * k);
        }
    }
}

/// <summary>Loaded RMSNorm kernels for one device; every method checks shapes before launching.</summary>
internal sealed class RmsNormKernels
{
    readonly Runtime.Device _device;
    readonly int _lanes;
    readonly Action<KernelConfig, ArrayView<float>, int, int, float, ArrayView<float>, ArrayView<float>, int> _forward;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, ArrayView<float>, int>
        _backward;

    public RmsNormKernels(Runtime.Device device) : this(device, device.Launch.RowLanes) { }

    /// <summary>Tests use this to run the multi-lane (CUDA-style) row path on the CPU accelerator.</summary>
    internal RmsNormKernels(Runtime.Device device, int rowLanes)
    {
        _device = device;
        _lanes = Lanes.Check(device, rowLanes);
        var acc = device.Accelerator;
        _forward = acc.LoadStreamKernel<ArrayView<float>, int, int, float, ArrayView<float>, ArrayView<float>, int>(
            RmsNormKernelMethods.ForwardKernel);
        _backward = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int,
            ArrayView<float>, int>(RmsNormKernelMethods.BackwardKernel);
    }

    KernelConfig RowGrid(long rows) => _device.Launch.For(rows * _lanes);

    /// <summary>y = x / sqrt(mean(x²) + eps) per row; rstd (N) is saved for the backward.</summary>
    public void Forward(ArrayView<float> x, int N, int C, float eps, ArrayView<float> y, ArrayView<float> rstd)
    {
        const string op = "RmsNorm";
        Shapes.Expect(op, x, "x", ("N", N), ("C", C));
        Shapes.Expect(op, y, "y", ("N", N), ("C", C));
        Shapes.Expect(op, rstd, "rstd", ("N", N));
        if (_device.RunsOnHost && _lanes == 1) { HostSimd.RmsNormForward(x, N, C, eps, y, rstd); return; }
        _forward(RowGrid(N), x, N, C, eps, y, rstd, _lanes);
    }

    /// <summary>dx (written) from dy, the forward's input x and its saved rstd.</summary>
    public void Backward(ArrayView<float> dy, ArrayView<float> x, ArrayView<float> rstd, int N, int C,
        ArrayView<float> dx)
    {
        const string op = "RmsNorm backward";
        Shapes.Expect(op, dy, "dy", ("N", N), ("C", C));
        Shapes.Expect(op, x, "x", ("N", N), ("C", C));
        Shapes.Expect(op, rstd, "rstd", ("N", N));
        Shapes.Expect(op, dx, "dx", ("N", N), ("C", C));
        if (_device.RunsOnHost && _lanes == 1) { HostSimd.RmsNormBackward(dy, x, rstd, N, C, dx); return; }
        _backward(RowGrid(N), dy, x, rstd, N, C, dx, _lanes);
    }
}

internal static class RmsNormOps
{
    public static RmsNormKernels RmsNorm(this Runtime.Device d) => d.Kernels(static d => new RmsNormKernels(d));
}
