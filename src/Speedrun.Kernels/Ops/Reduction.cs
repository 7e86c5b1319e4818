using ILGPU;
using ILGPU.Runtime;
using Speedrun.Kernels.Runtime;

namespace Speedrun.Kernels.Ops;

// Deterministic reductions of a float vector x (n elements) to one float: Sum and SumOfSquares.
//
// The summation order depends only on n, never on the device or its thread count, so the CPU and CUDA
// produce the same bits (up to the GPU fusing x*x + acc into an fma) and two runs always agree:
//   stage 1 (only when n > 65536): partial[p] = sum over i = p, p + 65536, ... in increasing i
//   stage 2 (only when the input is > 1024 long): the same with 1024 partials
//   tree:   32 fixed "virtual lanes" w sum entries w, w + 32, ... in order, then combine pairwise as a
//           warp xor-butterfly does (offset 16, 8, 4, 2, 1). On CUDA the 32 virtual lanes are the warp's
//           lanes; with fewer lanes (the CPU's 1) each thread replays the missing butterfly steps locally,
//           which gives identical bits because float addition is commutative.
// Strided partials keep neighbouring threads on neighbouring addresses (coalesced). No atomics.

internal static class ReductionKernelMethods
{
    /// <summary>Width of the final butterfly (the CUDA warp size).</summary>
    internal const int TreeWidth = 32;

    /// <summary>partials[p] = sum over i = p (mod P) of x[i] (or x[i]^2 when square != 0), in increasing i.</summary>
    [Kernel]
    internal static void StridedPartialSumsKernel(ArrayView<float> x, ArrayView<float> partials, int square)
    {
        int n = x.IntLength, parts = partials.IntLength;
        int pEnd = parts, pStride = Threads.Count; // hoisted: each read is a call on the CPU accelerator
        for (int p = Threads.Index; p < pEnd; p += pStride)
        {
            float acc = 0f;
            if (square != 0)
                for (int i = p; i < n; i += parts) acc += x[i] * x[i];
            else
                for (int i = p; i < n; i += parts) acc += x[i];
            partials[p] = acc;
        }
    }

    /// <summary>result[0] = the fixed 32-way tree sum of x (x[i]^2 when square != 0); x has at most 1024
    /// elements in practice. A row kernel with a single row: <paramref name="lanes"/> threads (1 or a power
    /// of two up to 32) share it.</summary>
    [Kernel]
    internal static void TreeSumKernel(ArrayView<float> x, ArrayView<float> result, int square, int lanes)
    {
        int lane = Threads.Index % lanes, row0 = Threads.Index / lanes, rowStride = Threads.Count / lanes;
        int n = x.IntLength, perLane = TreeWidth / lanes;
        for (int row = row0; row < 1; row += rowStride)
        {
            var virtualLanes = LocalMemory.Allocate<float>(TreeWidth);
            for (int j = 0; j < perLane; j++)
            {
                float acc = 0f;
                for (int i = lane + lanes * j; i < n; i += TreeWidth) acc += square != 0 ? x[i] * x[i] : x[i];
                virtualLanes[j] = acc;
            }
            // Butterfly steps whose partner is held by this same thread (offsets >= lanes) ...
            for (int offset = TreeWidth / 2; offset >= lanes; offset >>= 1)
            {
                int partner = offset / lanes;
                for (int j = 0; j < partner; j++) virtualLanes[j] = virtualLanes[j] + virtualLanes[j + partner];
            }
            // ... then the ones across threads.
            float v = virtualLanes[0];
            for (int o = lanes / 2; o > 0; o >>= 1) v += Warp.ShuffleXor(v, o);
            if (lane == 0) result[0] = v;
        }
    }
}

/// <summary>Loaded reduction kernels for one device; every method checks shapes before launching.</summary>
internal sealed class ReductionKernels
{
    internal const int Stage1Partials = 65536, Stage2Partials = 1024;

    /// <summary>The longest input (the strided loops must not overflow 32-bit indices).</summary>
    public const int MaxLength = int.MaxValue - Stage1Partials;

    readonly Runtime.Device _device;
    readonly int _lanes;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, int> _partials;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int> _tree;

    public ReductionKernels(Runtime.Device device) : this(device, device.Launch.RowLanes) { }

    /// <summary>Tests use this to check that the lane count does not change the result.</summary>
    internal ReductionKernels(Runtime.Device device, int rowLanes)
    {
        _device = device;
        _lanes = Lanes.Check(device, rowLanes);
        if (ReductionKernelMethods.TreeWidth % _lanes != 0)
            throw new ArgumentOutOfRangeException(nameof(rowLanes), rowLanes,
                $"The reduction tree needs a lane count dividing {ReductionKernelMethods.TreeWidth}.");
        var acc = device.Accelerator;
        _partials = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int>(
            ReductionKernelMethods.StridedPartialSumsKernel);
        _tree = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int>(ReductionKernelMethods.TreeSumKernel);
    }

    /// <summary>result[0] = sum of x, in a fixed order that depends only on x's length.</summary>
    public void Sum(ArrayView<float> x, ArrayView<float> result) => Reduce("Sum", x, result, square: false);

    /// <summary>result[0] = sum of x^2, in the same fixed order as <see cref="Sum"/>.</summary>
    public void SumOfSquares(ArrayView<float> x, ArrayView<float> result) =>
        Reduce("SumOfSquares", x, result, square: true);

    void Reduce(string op, ArrayView<float> x, ArrayView<float> result, bool square)
    {
        Shapes.Expect(op, result, "result", ("1", 1));
        if (x.Length > MaxLength)
            throw new ArgumentException($"{op}: x has {x.Length} elements; at most {MaxLength} are supported.");
        if (_device.RunsOnHost)
        {
            HostSimd.Span(result)[0] = HostSimd.Reduce(x, square);
            return;
        }
        int sq = square ? 1 : 0;
        var input = x;
        PooledBuffer<float>? stage1 = null, stage2 = null;
        try
        {
            if (input.Length > Stage1Partials)
            {
                stage1 = _device.Pool.Rent<float>(Stage1Partials);
                _partials(_device.Launch.For(Stage1Partials), input, stage1.View, sq);
                input = stage1.View;
                sq = 0;
            }
            if (input.Length > Stage2Partials)
            {
                stage2 = _device.Pool.Rent<float>(Stage2Partials);
                _partials(_device.Launch.For(Stage2Partials), input, stage2.View, sq);
                input = stage2.View;
                sq = 0;
            }
            _tree(_device.Launch.For(_lanes), input, result, sq, _lanes);
        }
        finally
        {
            stage2?.Dispose();
            stage1?.Dispose();
        }
    }
}

internal static class ReductionOps
{
    public static ReductionKernels Reduction(this Runtime.Device d) => d.Kernels(static d => new ReductionKernels(d));
}
