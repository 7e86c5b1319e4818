using Speedrun.Core.Autograd;
using Speedrun.Tests.Torch;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = Speedrun.Core.Autograd.Tensor;

namespace Speedrun.Core.Tests.Autograd;

/// <summary>Under bf16 autocast a Linear rounds its GEMM operands to bf16 in forward and in backward (the
/// backward runs outside the autocast scope, as in PyTorch); the reference rounds the same operands through
/// TorchSharp's bfloat16 and multiplies in float64.</summary>
public class LinearPrecisionTests
{
    static torch.Tensor Bf16(torch.Tensor t) => t.to_type(ScalarType.BFloat16).to_type(ScalarType.Float64);

    [Fact]
    public void Bf16AutocastRoundsOperandsInForwardAndBackward()
    {
        const int rows = 37, inF = 45, outF = 29;
        using var device = Device.Create(Kernels.Runtime.DeviceKind.Cpu);
        var rng = new Random(5);
        float[] R(int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var xData = R(rows * inF);
        var wData = R(outF * inF);
        var dyData = R(rows * outF);

        using var scope = new TensorScope();
        var w = Tensor.Parameter(device, "w", wData, outF, inF);
        var x = Tensor.Parameter(device, "x", xData, rows, inF); // a leaf with a gradient, to see dx
        Tensor y;
        using (Autocast.Use(MatmulPrecision.BF16)) y = F.Linear(x, w);
        var dy = Tensor.FromArray(device, dyData, rows, outF);

        var tx = torch.tensor(xData.Select(v => (double)v).ToArray(), [rows, inF]);
        var tw = torch.tensor(wData.Select(v => (double)v).ToArray(), [outF, inF]);
        var tdy = torch.tensor(dyData.Select(v => (double)v).ToArray(), [rows, outF]);
        var expectedY = Bf16(tx).matmul(Bf16(tw).t());
        AssertClose(expectedY, y.ToArray(), "y");

        y.Backward(dy);
        AssertClose(Bf16(tdy).matmul(Bf16(tw)), x.Grad!.ToArray(), "dx");
        AssertClose(Bf16(tdy).t().matmul(Bf16(tx)), w.Grad!.ToArray(), "dW (accumulated into the parameter)");
        w.Grad.Dispose(); w.Dispose(); x.Grad?.Dispose(); x.Dispose();
    }

    static void AssertClose(torch.Tensor expected, float[] actual, string what)
    {
        var e = TensorData.Read<double>(expected);
        Assert.Equal(e.Length, actual.Length);
        for (int i = 0; i < e.Length; i++)
            Assert.True(Math.Abs(actual[i] - e[i]) <= 1e-5 + 1e-5 * Math.Abs(e[i]), $"{what}[{i}]: {actual[i]} vs {e[i]}");
    }
}
