using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Speedrun.Kernels.Ops;

// LayerNorm over the last dimension, with weight and bias (GPT-2's ln_1, ln_2, ln_f):
//
//   forward   μ = mean_c(x),  r = 1/sqrt(mean_c((x - μ)²) + eps)      (biased variance, as PyTorch)
//             x̂ = (x - μ)·r,  y = x̂·w + b                           x, y: (N, C); w, b: (C); μ, r saved: (N)
//   backward  g = dy·w
//             dx = r·(g - mean_c(g) - x̂·mean_c(g·x̂))                   dx written
//             dw += Σ_rows dy·x̂,  db += Σ_rows dy                       accumulated (micro-batches)
//
// Forward and the dx part of backward run one row per `lanes` threads (see Lanes); the variance is
// taken around the mean (two passes), not as E[x²] - μ². dw and db use ColumnSum's two-phase,
// fixed-order reduction: WeightGradChunksKernel is its phase 1 with the terms computed on the fly
// (it reads dy and x once for both sums), then ColumnSum's phase 2 adds the chunks into dw and db.

internal static class LayerNormKernelMethods
{
    [Kernel]
    internal static void ForwardKernel(
        ArrayView<float> x, ArrayView<float> weight, ArrayView<float> bias, int rows, int cols, float eps,
        ArrayView<float> y, ArrayView<float> mean, ArrayView<float> rstd, int lanes)
    {
        int lane = Lanes.Lane(lanes);
        int rowStride = Lanes.RowStride(lanes);
        for (int row = Lanes.FirstRow(lanes); row < rows; row += rowStride)
        {
            var xr = x.SubView(row * cols, cols);
            var yr = y.SubView(row * cols, cols);
            float sum = 0f;
            for (int c = lane; c < cols; c += lanes) sum += xr[c];
            float mu = Lanes.Sum(sum, lanes) / cols;
            float sumSquares = 0f;
            for (int c = lane; c < cols; c += lanes)
            {
                float d = xr[c] - mu;
                sumSquares += d * d;
            }
            float r = 1f / XMath.Sqrt(Lanes.Sum(sumSquares, lanes) / cols + eps);
            for (int c = lane; c < cols; c += lanes) yr[c] = (xr[c] - mu) * r * weight[c] + bias[c];
            if (lane == 0)
            {
                mean[row] = mu;
                rstd[row] = r;
            }
        }
    }

    /// <summary>dx only; dw and db come from <see cref="WeightGradChunksKernel"/>.</summary>
    [Kernel]
    internal static void BackwardKernel(
        ArrayView<float> dy, ArrayView<float> x, ArrayView<float> weight, ArrayView<float> mean,
        ArrayView<float> rstd, int rows, int cols, ArrayView<float> dx, int lanes)
    {
        int lane = Lanes.Lane(lanes);
        int rowStride = Lanes.RowStride(lanes);
        for (int row = Lanes.FirstRow(lanes); row < rows; row += rowStride)
        {
            var xr = x.SubView(row * cols, cols);
            var dyr = dy.SubView(row * cols, cols);
            var dxr = dx.SubView(row * cols, cols);
            float mu = mean[row], r = rstd[row];
            float sumG = 0f, sumGXhat = 0f;
            for (int c = lane; c < cols; c += lanes)
            {
                float g = dyr[c] * weight[c];
                sumG += g;
                sumGXhat += g * (xr[c] - mu) * r;
            }
            float meanG = Lanes.Sum(sumG, lanes) / cols;
            float meanGXhat = Lanes.Sum(sumGXhat, lanes) / cols;
            for (int c = lane; c < cols; c += lanes)
            {
                float xhat = (xr[c] - mu) * r;
                dxr[c] = r * (dyr[c] * weight[c] - meanG - xhat * meanGXhat);
            }
        }
    }

    /// <summary>
    /// ColumnSum phase 1 for both parameter gradients: for chunk k and column c,
    /// weightPartials[k, c] = Σ dy·x̂ and biasPartials[k, c] = Σ dy over the chunk's rows, in row order.
    /// </summary>
    [Kernel]
    internal static void WeightGradChunksKernel(
        ArrayView<float> dy, ArrayView<float> x, ArrayView<float> mean, ArrayView<float> rstd, int rows, int cols,
        int rowsPerChunk, ArrayView<float> weightPartials, ArrayView<float> biasPartials)
    {
        int iEnd = weightPartials.IntLength, iStride = Threads.Count; // hoisted: each read is a call on the CPU accelerator
        for (int i = Threads.Index; i < iEnd; i += iStride)
        {
            int chunk = i / cols, c = i - chunk * cols;
            int first = chunk * rowsPerChunk, end = Math.Min(rows, first + rowsPerChunk);
            float sw = 0f, sb = 0f;
            for (int r = first; r < end; r++)
            {
                float g = dy[r * cols + c];
                sw += g * (x[r * cols + c] - mean[r]) * rstd[r];
                sb += g;
            }
            weightPartials[i] = sw;
            biasPartials[i] = sb;
        }
    }
}

/// <summary>Loaded LayerNorm kernels for one device; every method checks shapes before launching.</summary>
internal sealed class LayerNormKernels
{
    readonly Runtime.Device _device;
    readonly int _lanes;
    readonly ColumnSumKernels _columns;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float,
        ArrayView<float>, ArrayView<float>, ArrayView<float>, int> _forward;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, int, int, ArrayView<float>, int> _backward;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int,
        int, ArrayView<float>, ArrayView<float>> _weightGradChunks;

    public LayerNormKernels(Runtime.Device device) : this(device, device.Launch.RowLanes) { }

    /// <summary>Tests use this to run the multi-lane (CUDA-style) row path on the CPU accelerator.</summary>
    internal LayerNormKernels(Runtime.Device device, int rowLanes)
    {
        _device = device;
        _lanes = Lanes.Check(device, rowLanes);
        _columns = rowLanes == device.Launch.RowLanes ? device.ColumnSum() : new ColumnSumKernels(device, rowLanes);
        var acc = device.Accelerator;
        _forward = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(LayerNormKernelMethods.ForwardKernel);
        _backward = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, int, int, ArrayView<float>, int>(LayerNormKernelMethods.BackwardKernel);
        _weightGradChunks = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, int, int, int, ArrayView<float>, ArrayView<float>>(
            LayerNormKernelMethods.WeightGradChunksKernel);
    }

    KernelConfig RowGrid(long rows) => _device.Launch.For(rows * _lanes);

    /// <summary>y = (x - μ)·r·w + b per row; mean and rstd (N) are saved for the backward.</summary>
    public void Forward(ArrayView<float> x, ArrayView<float> weight, ArrayView<float> bias, int N, int C, float eps,
        ArrayView<float> y, ArrayView<float> mean, ArrayView<float> rstd)
    {
        const string op = "LayerNorm";
        Shapes.Expect(op, x, "x", ("N", N), ("C", C));
        Shapes.Expect(op, weight, "weight", ("C", C));
        Shapes.Expect(op, bias, "bias", ("C", C));
        Shapes.Expect(op, y, "y", ("N", N), ("C", C));
        Shapes.Expect(op, mean, "mean", ("N", N));
        Shapes.Expect(op, rstd, "rstd", ("N", N));
        _forward(RowGrid(N), x, weight, bias, N, C, eps, y, mean, rstd, _lanes);
    }

    /// <summary>dx is written; dWeight and dBias are accumulated (+=), deterministically.</summary>
    public void Backward(ArrayView<float> dy, ArrayView<float> x, ArrayView<float> weight, ArrayView<float> mean,
        ArrayView<float> rstd, int N, int C, ArrayView<float> dx, ArrayView<float> dWeight, ArrayView<float> dBias)
    {
        const string op = "LayerNorm backward";
        Shapes.Expect(op, dy, "dy", ("N", N), ("C", C));
        Shapes.Expect(op, x, "x", ("N", N), ("C", C));
        Shapes.Expect(op, weight, "weight", ("C", C));
        Shapes.Expect(op, mean, "mean", ("N", N));
        Shapes.Expect(op, rstd, "rstd", ("N", N));
        Shapes.Expect(op, dx, "dx", ("N", N), ("C", C));
        Shapes.Expect(op, dWeight, "dWeight", ("C", C));
        Shapes.Expect(op, dBias, "dBias", ("C", C));
        _backward(RowGrid(N), dy, x, weight, mean, rstd, N, C, dx, _lanes);

        int chunks = ColumnSumKernels.ChunkCount(N);
        using var weightPartials = _device.Pool.Rent<float>((long)chunks * C);
        using var biasPartials = _device.Pool.Rent<float>((long)chunks * C);
        _weightGradChunks(_device.Launch.For(weightPartials.Length), dy, x, mean, rstd, N, C, ColumnSumKernels.RowsPerChunk,
            weightPartials.View, biasPartials.View);
        _columns.SumChunks(weightPartials.View, chunks, C, dWeight);
        _columns.SumChunks(biasPartials.View, chunks, C, dBias);
    }
}

internal static class LayerNormOps
{
    public static LayerNormKernels LayerNorm(this Runtime.Device d) => d.Kernels(static d => new LayerNormKernels(d));
}
