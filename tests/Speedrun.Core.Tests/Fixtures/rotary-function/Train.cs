// A training program's own differentiable op, compiled by the runner like any Train.cs: rotary position
// embeddings (record 2's idea) as a Function with its own ILGPU kernel. The tests load this file, check the
// op against TorchSharp and run Gradcheck on it; run as a program it checks itself with Gradcheck.
using ILGPU;
using ILGPU.Runtime;
using Speedrun.Core.Autograd;
using Speedrun.Kernels.Ops;

using var device = Device.Create(Speedrun.Kernels.Runtime.DeviceKind.Cpu);
using var scope = new TensorScope();
var (cos, sin) = Rotary.Tables(device, positions: 5, headDim: 8);
var x = Tensor.FromArray(device, Enumerable.Range(0, 2 * 5 * 3 * 8).Select(i => MathF.Sin(i * 0.37f)).ToArray(), 2, 5, 3, 8);
var result = Gradcheck.Check(inputs => new Rotary(cos, sin).Apply(inputs[0]), [x]);
Console.WriteLine($"rotary gradcheck: {result.ElementsChecked} elements, max error {result.MaxAbsError:G3}");

/// <summary>
/// Rotary embedding of x (B, T, H, D): dims i and i + D/2 of each head form a pair rotated by -θ(t, i):
/// y1 = x1·cos + x2·sin, y2 = -x1·sin + x2·cos. The inverse rotation is the backward.
/// </summary>
public sealed class Rotary(Tensor cos, Tensor sin) : Function("rotary")
{
    /// <summary>cos and sin of θ(t, i) = t / base^(2i/D), each (positions, D/2).</summary>
    public static (Tensor Cos, Tensor Sin) Tables(Device device, int positions, int headDim, double theta = 10000)
    {
        int half = headDim / 2;
        var c = new float[positions * half];
        var s = new float[positions * half];
        for (int t = 0; t < positions; t++)
            for (int i = 0; i < half; i++)
            {
                double angle = t / Math.Pow(theta, 2.0 * i / headDim);
                c[t * half + i] = (float)Math.Cos(angle);
                s[t * half + i] = (float)Math.Sin(angle);
            }
        return (Tensor.FromArray(device, c, positions, half), Tensor.FromArray(device, s, positions, half));
    }

    protected override Tensor[] Forward(Tensor[] inputs)
    {
        var x = inputs[0];
        var y = Tensor.Empty(x.Device, x.Shape);
        Rotate(x, y, sign: 1f);
        return [y];
    }

    public override Tensor?[] Backward(Tensor[] gradOutputs)
    {
        var dy = gradOutputs[0];
        var dx = Tensor.Empty(dy.Device, dy.Shape);
        Rotate(dy, dx, sign: -1f); // rotating back by +θ
        return [dx];
    }

    void Rotate(Tensor x, Tensor y, float sign)
    {
        int t = x.Dim(1), h = x.Dim(2), half = x.Dim(3) / 2;
        var kernels = x.Device.Kernels(static d => new RotaryKernels(d)); // compiled once per device
        kernels.Rotate(x.Device.Launch.For(x.Length / 2), x.F32, cos.F32, sin.F32, y.F32, t, h, half, sign);
    }
}

/// <summary>The loaded kernel (one instance per device, cached by Device.Kernels).</summary>
sealed class RotaryKernels(Device device)
{
    public readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, float> Rotate =
        device.Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, float>(RotateKernel);

    // One loop iteration per pair (grid-stride, so a few threads suffice on the CPU accelerator).
    static void RotateKernel(ArrayView<float> x, ArrayView<float> cos, ArrayView<float> sin, ArrayView<float> y,
        int T, int H, int half, float sign)
    {
        int pairs = x.IntLength / 2, stride = Threads.Count;
        for (int p = Threads.Index; p < pairs; p += stride)
        {
            int i = p % half, row = p / half; // row = (b·T + t)·H + h
            int t = row / H % T;
            int a = row * 2 * half + i, b = a + half;
            float c = cos[t * half + i], s = sign * sin[t * half + i];
            float x1 = x[a], x2 = x[b];
            y[a] = x1 * c + x2 * s;
            y[b] = x2 * c - x1 * s;
        }
    }
}
