using Speedrun.Kernels.Ops;
using Speedrun.Tests.Torch;
using static Speedrun.Kernels.Tests.OpCheck;
using BFloat16 = Speedrun.Kernels.Numerics.BFloat16;

namespace Speedrun.Kernels.Tests.Ops;

public class ElementwiseTests
{
    // Lengths around small grids (the CPU device runs cores × 2 threads) and odd tails.
    public static TheoryData<int> Lengths => new() { 1, 7, 8, 9, 31, 33, 255, 1000 };

    [Theory, MemberData(nameof(Lengths))]
    public void ScaleAccumulateAddCopyFill(int n)
    {
        var x = Randn(1, n);
        var y = Randn(2, n);
        using var dx = Upload(x);
        using var dy = Upload(y);
        using var outBuf = Poisoned(n);
        var ops = Cpu.Elementwise();

        ops.Scale(dx.View, -1.5f, outBuf.View);
        Close(x * -1.5, Download(outBuf), 1e-6, 1e-6, "Scale");

        ops.Add(dx.View, dy.View, outBuf.View);
        Close(x + y, Download(outBuf), 1e-6, 1e-6, "Add");

        ops.Accumulate(dx.View, 0.25f, outBuf.View);
        Close(x + y + 0.25 * x, Download(outBuf), 1e-6, 1e-6, "Accumulate");

        ops.Copy(dy.View, outBuf.View);
        Close(F64(y.to_type(TorchSharp.torch.ScalarType.Float32)), Download(outBuf), 0, 0, "Copy");

        ops.Fill(outBuf.View, 3f);
        Assert.All(Download(outBuf), v => Assert.Equal(3f, v));
    }

    [Fact]
    public void Bf16CastRoundsToNearestEvenLikeTorch()
    {
        // Values chosen to hit ties, overflow to infinity, denormals and NaN.
        float[] values = [3.14159265f, 65504f, 1.00390625f, 1.01171875f, -2.5e-39f, 3.4e38f, float.NaN, 0f, -0f, 1e-3f];
        using var src = Upload(values);
        using var bf = Cpu.Accelerator.Allocate1D<BFloat16>(values.Length);
        using var back = Poisoned(values.Length);
        Cpu.Elementwise().ToBFloat16(src.View, bf.View);
        Cpu.Elementwise().ToFloat32(bf.View, back.View);
        var expected = TensorData.Read<float>(TorchSharp.torch.tensor(values).to_type(TorchSharp.torch.ScalarType.BFloat16)
            .to_type(TorchSharp.torch.ScalarType.Float32));
        var got = Download(back);
        for (int i = 0; i < values.Length; i++)
            Assert.Equal(BitConverter.SingleToInt32Bits(expected[i]) & (float.IsNaN(expected[i]) ? 0x7F800000 : -1),
                         BitConverter.SingleToInt32Bits(got[i]) & (float.IsNaN(got[i]) ? 0x7F800000 : -1));
    }

    [Fact]
    public void MismatchedLengthsThrowBeforeLaunch()
    {
        using var a = Poisoned(4);
        using var b = Poisoned(5);
        var e = Assert.Throws<ArgumentException>(() => Cpu.Elementwise().Add(a.View, b.View, a.View));
        Assert.Contains("Add", e.Message);
        Assert.Contains("5", e.Message);
    }
}
