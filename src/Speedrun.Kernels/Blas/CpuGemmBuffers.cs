using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Speedrun.Kernels.Blas;

/// <summary>
/// One worker's packing space: a block of A and a block of B, in pinned arrays aligned to 64 bytes. Rented
/// from a process-wide pool for the length of one GEMM task, so steady-state calls allocate nothing large;
/// a buffer only grows (to the largest block the worker has packed).
/// </summary>
internal sealed unsafe class CpuGemmBuffers
{
    const int AlignFloats = 16; // 64 bytes

    /// <summary>Room after a block for the packing's overlapping vector stores.</summary>
    const int SlackFloats = 16;

    static readonly ConcurrentBag<CpuGemmBuffers> Pool = new();

    float[] _a = [], _b = [];

    public float* A { get; private set; }
    public float* B { get; private set; }

    public static CpuGemmBuffers Rent(long aFloats, long bFloats)
    {
        if (!Pool.TryTake(out var buffers)) buffers = new CpuGemmBuffers();
        buffers.A = Ensure(ref buffers._a, aFloats, buffers.A);
        buffers.B = Ensure(ref buffers._b, bFloats, buffers.B);
        return buffers;
    }

    public static void Return(CpuGemmBuffers buffers) => Pool.Add(buffers);

    static float* Ensure(ref float[] array, long floats, float* current)
    {
        if (array.Length >= floats + AlignFloats + SlackFloats) return current;
        array = GC.AllocateUninitializedArray<float>(checked((int)(floats + AlignFloats + SlackFloats)), pinned: true);
        var p = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(array));
        return (float*)((p + (AlignFloats * sizeof(float) - 1)) & ~(nint)(AlignFloats * sizeof(float) - 1));
    }
}
