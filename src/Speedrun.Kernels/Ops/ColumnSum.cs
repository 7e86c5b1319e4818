using ILGPU;
using ILGPU.Runtime;

namespace Speedrun.Kernels.Ops;

// Deterministic column sums of a row-major (rows, cols) matrix, accumulated into a destination:
//
//   dst[c] += Σ_r m[r, c]
//
// The parameter gradients of norms and biases are such sums over all B·T rows. Float atomics would
// make them depend on thread timing, so the sum runs in two phases with a fixed order:
//   phase 1  rows are cut into chunks of RowsPerChunk; one thread per (chunk, column) adds its chunk's
//            rows in order into partials[chunk, column] (pooled scratch, chunks·cols floats);
//            neighbouring threads take neighbouring columns, so reads are coalesced;
//   phase 2  per column, `lanes` threads add the chunk partials (lane k takes chunks k, k + lanes, ...)
//            and combine with shuffles, in an order fixed by `lanes`; dst[c] += total.
// Two runs on one device give identical bits. A producer that can compute its terms on the fly
// (LayerNorm's backward) writes phase-1 partials in the same layout itself and calls SumChunks.

internal static class ColumnSumKernelMethods
{
    /// <summary>partials[k, c] = Σ_{r in chunk k} m[r, c].</summary>
    [Kernel]
    internal static void ChunkSumsKernel(ArrayView<float> m, int rows, int cols, int rowsPerChunk,
        ArrayView<float> partials)
    {
        int iEnd = partials.IntLength, iStride = Threads.Count; // hoisted: each read is a call on the CPU accelerator
        for (int i = Threads.Index; i < iEnd; i += iStride)
        {
            int chunk = i / cols, c = i - chunk * cols;
            int first = chunk * rowsPerChunk, end = Math.Min(rows, first + rowsPerChunk);
            float s = 0f;
            for (int r = first; r < end; r++) s += m[r * cols + c];
            partials[i] = s;
        }
    }

    /// <summary>dst[c] += Σ_k partials[k, c], one column per `lanes` threads.</summary>
    [Kernel]
    internal static void SumChunksKernel(ArrayView<float> partials, int chunks, int cols, ArrayView<float> dst,
        int lanes)
    {
        int lane = Lanes.Lane(lanes);
        int cStride = Lanes.RowStride(lanes);
        for (int c = Lanes.FirstRow(lanes); c < cols; c += cStride)
        {
            float s = 0f;
            for (int k = lane; k < chunks; k += lanes) s += partials[k * cols + c];
            s = Lanes.Sum(s, lanes);
            if (lane == 0) dst[c] += s;
        }
    }
}

/// <summary>Loaded column-sum kernels for one device.</summary>
internal sealed class ColumnSumKernels
{
    /// <summary>Rows per phase-1 chunk: fixed, so the summation order does not depend on the device.</summary>
    public const int RowsPerChunk = 32;

    readonly Runtime.Device _device;
    readonly int _lanes;
    readonly Action<KernelConfig, ArrayView<float>, int, int, int, ArrayView<float>> _chunkSums;
    readonly Action<KernelConfig, ArrayView<float>, int, int, ArrayView<float>, int> _sumChunks;

    public ColumnSumKernels(Runtime.Device device) : this(device, device.Launch.RowLanes) { }

    /// <summary>Tests use this to run the multi-lane (CUDA-style) row path on the CPU accelerator.</summary>
    internal ColumnSumKernels(Runtime.Device device, int rowLanes)
    {
        _device = device;
        _lanes = Lanes.Check(device, rowLanes);
        var acc = device.Accelerator;
        _chunkSums = acc.LoadStreamKernel<ArrayView<float>, int, int, int, ArrayView<float>>(
            ColumnSumKernelMethods.ChunkSumsKernel);
        _sumChunks = acc.LoadStreamKernel<ArrayView<float>, int, int, ArrayView<float>, int>(
            ColumnSumKernelMethods.SumChunksKernel);
    }

    KernelConfig RowGrid(long rows) => _device.Launch.For(rows * _lanes);

    /// <summary>Phase-1 chunks for a matrix of <paramref name="rows"/> rows.</summary>
    public static int ChunkCount(int rows) => (rows + RowsPerChunk - 1) / RowsPerChunk;

    /// <summary>dst[c] += Σ_r m[r, c] for a row-major (rows, cols) matrix m; deterministic.</summary>
    public void Accumulate(ArrayView<float> m, int rows, int cols, ArrayView<float> dst)
    {
        const string op = "ColumnSum";
        Shapes.Expect(op, m, "m", ("rows", rows), ("cols", cols));
        Shapes.Expect(op, dst, "dst", ("cols", cols));
        int chunks = ChunkCount(rows);
        using var partials = _device.Pool.Rent<float>((long)chunks * cols);
        _chunkSums(_device.Launch.For(partials.Length), m, rows, cols, RowsPerChunk, partials.View);
        SumChunks(partials.View, chunks, cols, dst);
    }

    /// <summary>Phase 2 alone: dst[c] += Σ_k partials[k, c] for (chunks, cols) partials.</summary>
    internal void SumChunks(ArrayView<float> partials, int chunks, int cols, ArrayView<float> dst)
    {
        _sumChunks(RowGrid(cols), partials, chunks, cols, dst, _lanes);
    }
}

internal static class ColumnSumOps
{
    public static ColumnSumKernels ColumnSum(this Runtime.Device d) => d.Kernels(static d => new ColumnSumKernels(d));
}
