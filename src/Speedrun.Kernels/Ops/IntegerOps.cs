using ILGPU;
using ILGPU.Runtime;

namespace Speedrun.Kernels.Ops;

// Int tensors (token ids): an element-wise comparison with a constant, and the inclusive prefix sum along rows,
// e.g. document ids = cumsum(ids == EOT) (FlexAttention's document masks), computed on the device.
//
//   Equal:  y[i] = (x[i] == value) ? 1 : 0
//   CumSum: y[r, t] = Σ_{s ≤ t} x[r, s]     rows of length n
//
// The scan cuts each row into P contiguous pieces: pass 1 sums each piece; pass 2 scans each piece starting
// from the sum of the pieces before it (≤ P reads). Two launches, no atomics, exact in int arithmetic.

internal static class IntegerKernelMethods
{
    [Kernel]
    internal static void EqualKernel(ArrayView<int> x, int value, ArrayView<int> y)
    {
        int end = y.IntLength, stride = Threads.Count;
        for (int i = Threads.Index; i < end; i += stride) y[i] = x[i] == value ? 1 : 0;
    }

    static (int Start, int End) Piece(int n, int pieces, int p) =>
        ((int)((long)n * p / pieces), (int)((long)n * (p + 1) / pieces));

    [Kernel]
    internal static void PieceSumsKernel(ArrayView<int> x, int rows, int n, int pieces, ArrayView<int> sums)
    {
        int total = rows * pieces, stride = Threads.Count;
        for (int i = Threads.Index; i < total; i += stride)
        {
            int row = i / pieces;
            var (start, end) = Piece(n, pieces, i % pieces);
            int s = 0;
            for (int t = start; t < end; t++) s += x[(long)row * n + t];
            sums[i] = s;
        }
    }

    [Kernel]
    internal static void ScanPiecesKernel(ArrayView<int> x, int rows, int n, int pieces, ArrayView<int> sums, ArrayView<int> y)
    {
        int total = rows * pieces, stride = Threads.Count;
        for (int i = Threads.Index; i < total; i += stride)
        {
            int row = i / pieces, p = i % pieces;
            var (start, end) = Piece(n, pieces, p);
            int s = 0;
            for (int before = 0; before < p; before++) s += sums[row * pieces + before];
            for (int t = start; t < end; t++)
            {
                s += x[(long)row * n + t];
                y[(long)row * n + t] = s;
            }
        }
    }
}

/// <summary>Loaded int kernels for one device.</summary>
internal sealed class IntegerKernels
{
    readonly Runtime.Device _device;
    readonly Action<KernelConfig, ArrayView<int>, int, ArrayView<int>> _equal;
    readonly Action<KernelConfig, ArrayView<int>, int, int, int, ArrayView<int>> _pieceSums;
    readonly Action<KernelConfig, ArrayView<int>, int, int, int, ArrayView<int>, ArrayView<int>> _scanPieces;

    public IntegerKernels(Runtime.Device device)
    {
        _device = device;
        var acc = device.Accelerator;
        _equal = acc.LoadStreamKernel<ArrayView<int>, int, ArrayView<int>>(IntegerKernelMethods.EqualKernel);
        _pieceSums = acc.LoadStreamKernel<ArrayView<int>, int, int, int, ArrayView<int>>(IntegerKernelMethods.PieceSumsKernel);
        _scanPieces = acc.LoadStreamKernel<ArrayView<int>, int, int, int, ArrayView<int>, ArrayView<int>>(
            IntegerKernelMethods.ScanPiecesKernel);
    }

    /// <summary>y = (x == value) as 0/1.</summary>
    public void Equal(ArrayView<int> x, int value, ArrayView<int> y)
    {
        Shapes.SameLength("Equal", x, y);
        if (y.Length == 0) return;
        _equal(_device.Launch.For(y.Length), x, value, y);
    }

    /// <summary>Inclusive prefix sums of <paramref name="rows"/> rows of <paramref name="n"/> ints.</summary>
    public void CumSum(ArrayView<int> x, int rows, int n, ArrayView<int> y)
    {
        Shapes.Expect("CumSum", x, "x", ("rows", rows), ("n", n));
        Shapes.Expect("CumSum", y, "y", ("rows", rows), ("n", n));
        if (y.Length == 0) return;
        // Pieces of at least 64 ints, and no more pieces than threads on the device.
        int pieces = (int)Math.Clamp(Math.Min(n / 64, _device.Launch.Threads / Math.Max(1, rows)), 1, 1024);
        using var sums = _device.Pool.Rent<int>((long)rows * pieces);
        var grid = _device.Launch.For((long)rows * pieces);
        _pieceSums(grid, x, rows, n, pieces, sums.View);
        _scanPieces(grid, x, rows, n, pieces, sums.View, y);
    }
}

internal static class IntegerOps
{
    public static IntegerKernels Integers(this Runtime.Device d) => d.Kernels(static d => new IntegerKernels(d));
}
