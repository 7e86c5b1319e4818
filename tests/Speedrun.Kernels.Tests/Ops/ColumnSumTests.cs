using Speedrun.Kernels.Ops;
using static Speedrun.Kernels.Tests.OpCheck;
using static Speedrun.Kernels.Tests.Ops.TorchReference;

namespace Speedrun.Kernels.Tests.Ops;

public class ColumnSumTests
{
    /// <summary>(rows, cols, lanes): phase 2 with 1 lane per column (CPU) or the warp size (CUDA-style).</summary>
    public static TheoryData<int, int, bool> Shapes()
    {
        var shapes = new TheoryData<int, int, bool>();
        foreach (var (rows, cols) in new[] { (1, 1), (3, 5), (37, 33), (32, 96), (33, 96), (100, 7), (65, 1), (300, 3) })
        {
            shapes.Add(rows, cols, false);
            shapes.Add(rows, cols, true);
        }
        return shapes;
    }

    // fp32 sums of up to 300 O(1) values added onto O(1) values: atol 1e-5, rtol 1e-6.
    [Theory, MemberData(nameof(Shapes))]
    public void AccumulatesColumnSums(int rows, int cols, bool warpLanes)
    {
        var m = Exact32(Randn(rows * 7 + cols, rows, cols));
        var dst0 = Exact32(Randn(3 + cols, cols));
        using var dM = Upload(m);
        using var dDst = Upload(dst0);
        var ops = warpLanes ? new ColumnSumKernels(Cpu, Cpu.Accelerator.WarpSize) : Cpu.ColumnSum();
        ops.Accumulate(dM.View, rows, cols, dDst.View);
        Close(dst0 + m.sum(0L), Download(dDst), 1e-5, 1e-6, $"ColumnSum ({rows}x{cols})");
    }

    [Fact]
    public void WrongShapeThrowsBeforeLaunch()
    {
        using var m = Poisoned(12);
        using var dst = Poisoned(5);
        var e = Assert.Throws<ArgumentException>(() => Cpu.ColumnSum().Accumulate(m.View, 3, 4, dst.View));
        Assert.Contains("ColumnSum", e.Message);
        Assert.Contains("dst", e.Message);
    }
}
