using ILGPU;

namespace Speedrun.Kernels.Ops;

/// <summary>Thread indexing shared by all kernels: every kernel loops over its work with a grid stride.</summary>
public static class Threads
{
    /// <summary>This thread's index in the whole grid.</summary>
    public static int Index => Grid.IdxX * Group.DimX + Group.IdxX;

    /// <summary>Threads in the whole grid (the grid stride).</summary>
    public static int Count => Grid.DimX * Group.DimX;
}
