using ILGPU;
using ILGPU.Algorithms;

namespace Speedrun.Kernels.Ops;

/// <summary>
/// Row-wise kernels give each row <c>lanes</c> consecutive threads of one warp (1 on the CPU, the warp
/// size on CUDA). A lane walks the columns lane, lane + lanes, ... and the lanes then combine their
/// partial results with a butterfly of warp shuffles, so every lane ends with the same value. The
/// combination order depends only on <c>lanes</c>, so the result is the same bits on every run.
/// With lanes == 1 no shuffle runs (on the CPU a shuffle is a thread switch).
/// </summary>
public static class Lanes
{
    /// <summary>
    /// Returns <paramref name="lanes"/> if it is 1 or the device's warp size and divides the launch group
    /// size, so that every warp holds whole rows and all its lanes shuffle together; throws otherwise.
    /// </summary>
    public static int Check(Runtime.Device device, int lanes)
    {
        int warp = device.Accelerator.WarpSize;
        if (lanes != 1 && lanes != warp)
            throw new ArgumentOutOfRangeException(nameof(lanes), lanes,
                $"Row kernels need 1 lane per row or the warp size ({warp}).");
        if (device.Launch.GroupSize % lanes != 0)
            throw new ArgumentOutOfRangeException(nameof(lanes), lanes,
                $"The launch group size {device.Launch.GroupSize} is not a multiple of {lanes} lanes.");
        return lanes;
    }

    /// <summary>This thread's lane within its row.</summary>
    public static int Lane(int lanes) => Threads.Index % lanes;

    /// <summary>The first row this thread works on.</summary>
    public static int FirstRow(int lanes) => Threads.Index / lanes;

    /// <summary>Rows in flight at once (the row stride of the grid).</summary>
    public static int RowStride(int lanes) => Threads.Count / lanes;

    /// <summary>Sum over the lanes of one row, the same in every lane.</summary>
    public static float Sum(float value, int lanes)
    {
        for (int offset = lanes / 2; offset > 0; offset >>= 1)
            value += Warp.ShuffleXor(value, offset);
        return value;
    }

    /// <summary>Maximum over the lanes of one row, the same in every lane.</summary>
    public static float Max(float value, int lanes)
    {
        for (int offset = lanes / 2; offset > 0; offset >>= 1)
            value = XMath.Max(value, Warp.ShuffleXor(value, offset));
        return value;
    }
}
