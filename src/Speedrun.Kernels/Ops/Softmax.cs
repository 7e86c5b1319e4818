using ILGPU;
using ILGPU.Runtime;

namespace Speedrun.Kernels.Ops;

// Row softmax over the last dimension:
//
//   forward   m = max_c x,  s = Σ_c e^(x - m),  y = e^(x - m) / s           x, y: (N, C)
//   backward  dx = y·(dy - Σ_c y·dy)                                          y, dy, dx: (N, C); dx written
//
// Subtracting the row max keeps every exponent ≤ 0, so nothing overflows (rows of ±80 are fine).
// One row per `lanes` threads (see Lanes); the forward reads x three times (max, sum, write) instead of
// writing e^(x - m) and rescaling it. e^x is KernelMath.Exp (same few-ulp function on CPU and CUDA).

internal static class SoftmaxKernelMethods
{
    [Kernel]
    internal static void ForwardKernel(ArrayView<float> x, int rows, int cols, ArrayView<float> y, int lanes)
    {
        int lane = Lanes.Lane(lanes);
        int rowStride = Lanes.RowStride(lanes);
        for (int row = Lanes.FirstRow(lanes); row < rows; row += rowStride)
        {
            var xr = x.SubView(row * cols, cols);
            var yr = y.SubView(row * cols, cols);
            float max = float.NegativeInfinity;
            for (int c = lane; c < cols; c += lanes) max = Math.Max(max, xr[c]);
            max = Lanes.Max(max, lanes);
            float sum = 0f;
            for (int c = lane; c < cols; c += lanes) sum += KernelMath.Exp(xr[c] - max);
            float inverse = 1f / Lanes.Sum(sum, lanes);
            for (int c = lane; c < cols; c += lanes) yr[c] = KernelMath.Exp(xr[c] - max) * inverse;
        }
    }

    [Kernel]
    internal static void BackwardKernel(
        ArrayView<float> y, ArrayView<float> dy, int rows, int cols, ArrayView<float> dx, int lanes)
    {
        int lane = Lanes.Lane(lanes);
        int rowStride = Lanes.RowStride(lanes);
        for (int row = Lanes.FirstRow(lanes); row < rows; row += rowStride)
        {
            var yr = y.SubView(row * cols, cols);
            var dyr = dy.SubView(row * cols, cols);
            var dxr = dx.SubView(row * cols, cols);
            float dot = 0f;
            for (int c = lane; c < cols; c += lanes) dot += yr[c] * dyr[c];
            dot = Lanes.Sum(dot, lanes);
            for (int c = lane; c < cols; c += lanes) dxr[c] = yr[c] * (dyr[c] - dot);
        }
    }
}

/// <summary>Loaded softmax kernels for one device; every method checks shapes before launching.</summary>
internal sealed class SoftmaxKernels
{
    readonly Runtime.Device _device;
    readonly int _lanes;
    readonly Action<KernelConfig, ArrayView<float>, int, int, ArrayView<float>, int> _forward;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int, ArrayView<float>, int> _backward;

    public SoftmaxKernels(Runtime.Device device) : this(device, device.Launch.RowLanes) { }

    /// <summary>Tests use this to run the multi-lane (CUDA-style) row path on the CPU accelerator.</summary>
    internal SoftmaxKernels(Runtime.Device device, int rowLanes)
    {
        _device = device;
        _lanes = Lanes.Check(device, rowLanes);
        var acc = device.Accelerator;
        _forward = acc.LoadStreamKernel<ArrayView<float>, int, int, ArrayView<float>, int>(
            SoftmaxKernelMethods.ForwardKernel);
        _backward = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int, ArrayView<float>, int>(
            SoftmaxKernelMethods.BackwardKernel);
    }

    KernelConfig RowGrid(long rows) => _device.Launch.For(rows * _lanes);

    /// <summary>y = softmax(x) over each row of C values.</summary>
    public void Forward(ArrayView<float> x, int N, int C, ArrayView<float> y)
    {
        const string op = "Softmax";
        Shapes.Expect(op, x, "x", ("N", N), ("C", C));
        Shapes.Expect(op, y, "y", ("N", N), ("C", C));
        _forward(RowGrid(N), x, N, C, y, _lanes);
    }

    /// <summary>dx = y·(dy - Σ y·dy) per row, from the forward's output y; dx is written.</summary>
    public void Backward(ArrayView<float> y, ArrayView<float> dy, int N, int C, ArrayView<float> dx)
    {
        const string op = "Softmax backward";
        Shapes.Expect(op, y, "y", ("N", N), ("C", C));
        Shapes.Expect(op, dy, "dy", ("N", N), ("C", C));
        Shapes.Expect(op, dx, "dx", ("N", N), ("C", C));
        _backward(RowGrid(N), y, dy, N, C, dx, _lanes);
    }
}

internal static class SoftmaxOps
{
    public static SoftmaxKernels Softmax(this Runtime.Device d) => d.Kernels(static d => new SoftmaxKernels(d));
}
