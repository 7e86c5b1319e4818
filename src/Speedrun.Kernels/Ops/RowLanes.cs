namespace Speedrun.Kernels.Ops;

/// <summary>
/// Row-wise kernels take the number of threads that share a row. The device's own value
/// (<see cref="Device.LaunchShape.RowLanes"/>) is 1 on the CPU and the warp size on CUDA; tests may
/// also run the warp-size path on the CPU accelerator, whose warps are narrower.
/// </summary>
internal static class RowLanes
{
    /// <summary>Returns <paramref name="lanes"/> when it is 1 or the device's warp size (so every
    /// warp holds whole rows and all its lanes shuffle together); throws otherwise.</summary>
    public static int Check(Device.Device device, int lanes)
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
}
