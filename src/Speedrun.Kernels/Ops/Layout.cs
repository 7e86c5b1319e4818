using ILGPU;
using ILGPU.Runtime;

namespace Speedrun.Kernels.Ops;

// Copies that move elements without arithmetic (the views that need a copy), and the broadcasts that
// reductions' backward passes need:
//
//   Transpose   a tensor seen as (A, n0, B, n1, C) becomes (A, n1, B, n0, C): dims n0 and n1 swap.
//               Its own inverse with n0 and n1 exchanged, so it is also its backward.
//   CopyColumns rows × width block: dst[r, dstCol + c] = src[r, srcCol + c] for row strides srcWidth and
//               dstWidth. Split, cat and narrow along any dim are this copy on the tensor seen as
//               (outer, size·inner); each one's backward is the other direction.
//   Repeat      y[i] = alpha · g[i / width]: a sum over the last dim (width elements per row) or over
//               everything (width = n) sent back to every element.
//   RowSums     y[r] = Σ_c x[r, c] over rows of width c, with the row's lanes combined by shuffles in an
//               order fixed by the lane count.

internal static class LayoutKernelMethods
{
    [Kernel]
    internal static void TransposeKernel(ArrayView<float> x, ArrayView<float> y, int n0, int mid, int n1, int inner)
    {
        int iEnd = y.IntLength, iStride = Threads.Count;
        for (int o = Threads.Index; o < iEnd; o += iStride)
        {
            // o indexes y as (a, i1, b, i0, c) over (A, n1, mid, n0, inner).
            int c = o % inner;
            int r = o / inner;
            int i0 = r % n0;
            r /= n0;
            int b = r % mid;
            r /= mid;
            int i1 = r % n1;
            int a = r / n1;
            y[o] = x[(((a * n0 + i0) * mid + b) * n1 + i1) * inner + c];
        }
    }

    [Kernel]
    internal static void CopyColumnsKernel(ArrayView<float> src, int srcWidth, int srcCol, ArrayView<float> dst,
        int dstWidth, int dstCol, int rows, int width)
    {
        int iEnd = rows * width, iStride = Threads.Count;
        for (int i = Threads.Index; i < iEnd; i += iStride)
        {
            int r = i / width, c = i - r * width;
            dst[r * dstWidth + dstCol + c] = src[r * srcWidth + srcCol + c];
        }
    }

    [Kernel]
    internal static void RepeatKernel(ArrayView<float> g, int width, float alpha, ArrayView<float> y)
    {
        int iEnd = y.IntLength, iStride = Threads.Count;
        for (int i = Threads.Index; i < iEnd; i += iStride) y[i] = alpha * g[i / width];
    }

    [Kernel]
    internal static void RowSumsKernel(ArrayView<float> x, int rows, int width, ArrayView<float> y, int lanes)
    {
        int lane = Lanes.Lane(lanes), rowStride = Lanes.RowStride(lanes);
        for (int r = Lanes.FirstRow(lanes); r < rows; r += rowStride)
        {
            var row = x.SubView((long)r * width, width);
            float s = 0f;
            for (int c = lane; c < width; c += lanes) s += row[c];
            s = Lanes.Sum(s, lanes);
            if (lane == 0) y[r] = s;
        }
    }
}

/// <summary>Loaded layout kernels for one device; every method checks shapes before launching.</summary>
internal sealed class LayoutKernels
{
    readonly Runtime.Device _device;
    readonly int _lanes;
    readonly bool _host;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int, int, int> _transpose;
    readonly Action<KernelConfig, ArrayView<float>, int, int, ArrayView<float>, int, int, int, int> _copyColumns;
    readonly Action<KernelConfig, ArrayView<float>, int, float, ArrayView<float>> _repeat;
    readonly Action<KernelConfig, ArrayView<float>, int, int, ArrayView<float>, int> _rowSums;

    public LayoutKernels(Runtime.Device device) : this(device, device.Launch.RowLanes) { }

    /// <summary>Tests use this to run the multi-lane (CUDA-style) row path on the CPU accelerator.</summary>
    internal LayoutKernels(Runtime.Device device, int rowLanes)
    {
        _device = device;
        _lanes = Lanes.Check(device, rowLanes);
        _host = device.RunsOnHost && rowLanes == device.Launch.RowLanes; // an explicit lane count means: test the kernel
        var acc = device.Accelerator;
        _transpose = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int, int, int>(LayoutKernelMethods.TransposeKernel);
        _copyColumns = acc.LoadStreamKernel<ArrayView<float>, int, int, ArrayView<float>, int, int, int, int>(
            LayoutKernelMethods.CopyColumnsKernel);
        _repeat = acc.LoadStreamKernel<ArrayView<float>, int, float, ArrayView<float>>(LayoutKernelMethods.RepeatKernel);
        _rowSums = acc.LoadStreamKernel<ArrayView<float>, int, int, ArrayView<float>, int>(LayoutKernelMethods.RowSumsKernel);
    }

    /// <summary>x seen as (outer, n0, mid, n1, inner) → y as (outer, n1, mid, n0, inner).</summary>
    public void Transpose(ArrayView<float> x, int outer, int n0, int mid, int n1, int inner, ArrayView<float> y)
    {
        const string op = "Transpose";
        Shapes.Expect(op, x, "x", ("outer", outer), ("n0", n0), ("mid", mid), ("n1", n1), ("inner", inner));
        Shapes.SameLength(op, x, y);
        if (y.Length == 0) return;
        if (_host) { HostSimd.Transpose(x, outer, n0, mid, n1, inner, y); return; }
        _transpose(_device.Launch.For(y.Length), x, y, n0, mid, n1, inner);
    }

    /// <summary>Copies a rows × width block from src (row stride srcWidth, first column srcCol) into dst (row
    /// stride dstWidth, first column dstCol).</summary>
    public void CopyColumns(ArrayView<float> src, int srcWidth, int srcCol, ArrayView<float> dst, int dstWidth,
        int dstCol, int rows, int width)
    {
        const string op = "CopyColumns";
        if (srcCol < 0 || dstCol < 0 || width < 0 || srcCol + width > srcWidth || dstCol + width > dstWidth)
            throw new ArgumentException($"{op}: columns [{srcCol}, {srcCol + width}) of {srcWidth} into [{dstCol}, {dstCol + width}) of {dstWidth} are out of range.");
        Shapes.Expect(op, src, "src", ("rows", rows), ("srcWidth", srcWidth));
        Shapes.Expect(op, dst, "dst", ("rows", rows), ("dstWidth", dstWidth));
        if ((long)rows * width == 0) return;
        if (_host) { HostSimd.CopyColumns(src, srcWidth, srcCol, dst, dstWidth, dstCol, rows, width); return; }
        _copyColumns(_device.Launch.For((long)rows * width), src, srcWidth, srcCol, dst, dstWidth, dstCol, rows, width);
    }

    /// <summary>y[i] = alpha·g[i / width]; y has g's length times width.</summary>
    public void Repeat(ArrayView<float> g, int width, float alpha, ArrayView<float> y)
    {
        Shapes.Expect("Repeat", y, "y", ("g", g.Length), ("width", width));
        if (y.Length == 0) return;
        if (_host) { HostSimd.Repeat(g, width, alpha, y); return; }
        _repeat(_device.Launch.For(y.Length), g, width, alpha, y);
    }

    /// <summary>y[r] = Σ_c x[r, c] for x of shape (rows, width).</summary>
    public void RowSums(ArrayView<float> x, int rows, int width, ArrayView<float> y)
    {
        Shapes.Expect("RowSums", x, "x", ("rows", rows), ("width", width));
        Shapes.Expect("RowSums", y, "y", ("rows", rows));
        if (rows == 0) return;
        if (_host) { HostSimd.RowSums(x, rows, width, y); return; }
        _rowSums(_device.Launch.ForRows(rows), x, rows, width, y, _lanes);
    }
}

internal static class LayoutOps
{
    public static LayoutKernels Layout(this Runtime.Device d) => d.Kernels(static d => new LayoutKernels(d));
}
