using ILGPU;
using Speedrun.Kernels.Ops;

namespace Speedrun.Cli.Doctor;

/// <summary>Kernels that exist only to probe a device: a warp-shuffle row reduction (the pattern every
/// row-wise op uses) so the doctor can see shuffles agree between CUDA and the CPU simulator.</summary>
internal static class ProbeKernels
{
    /// <summary>y[row] = sum of x[row, :], `lanes` threads per row reducing with xor shuffles.</summary>
    internal static void RowSumKernel(ArrayView<float> x, int rows, int cols, int lanes, ArrayView<float> y)
    {
        int index = Grid.IdxX * Group.DimX + Group.IdxX, count = Grid.DimX * Group.DimX;
        int lane = index % lanes;
        for (int row = index / lanes; row < rows; row += count / lanes)
        {
            float acc = 0f;
            for (int c = lane; c < cols; c += lanes) acc += x[row * cols + c];
            for (int o = lanes / 2; o > 0; o >>= 1) acc += Warp.ShuffleXor(acc, o);
            if (lane == 0) y[row] = acc;
        }
    }
}
