namespace Speedrun.Kernels.Runtime;

/// <summary>
/// How kernels are launched on a device. Every kernel loops (grid-stride), so the grid is sized for the
/// device, not for the data: the CPU accelerator simulates each thread and wants only a few of them;
/// CUDA wants enough to fill every multiprocessor.
/// </summary>
/// <param name="Groups">Thread groups per launch.</param>
/// <param name="GroupSize">Threads per group (a multiple of the warp size).</param>
/// <param name="RowLanes">Threads that cooperate on one row in row-wise kernels (1 on the CPU, where a
/// warp shuffle costs a thread switch; the warp size on CUDA, reducing with shuffles).</param>
public readonly record struct LaunchShape(int Groups, int GroupSize, int RowLanes)
{
    /// <summary>Threads in a full grid.</summary>
    public int Threads => Groups * GroupSize;

    /// <summary>A grid no larger than the work needs (at least one group).</summary>
    public (int Groups, int GroupSize) For(long workItems)
    {
        long groupsNeeded = (workItems + GroupSize - 1) / GroupSize;
        return ((int)Math.Clamp(groupsNeeded, 1, Groups), GroupSize);
    }

    /// <summary>A grid for row-wise kernels: RowLanes threads per row, no more rows in flight than exist.</summary>
    public (int Groups, int GroupSize) ForRows(long rows) => For(rows * RowLanes);
}
