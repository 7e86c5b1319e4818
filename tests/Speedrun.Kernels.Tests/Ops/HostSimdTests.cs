using Speedrun.Kernels.Ops;
using static Speedrun.Kernels.Tests.OpCheck;
using static Speedrun.Kernels.Tests.Ops.TorchReference;

namespace Speedrun.Kernels.Tests.Ops;

/// <summary>
/// The CPU device runs simple element-wise ops as host SIMD loops (HostSimd); the warp-row device runs the
/// ILGPU kernels CUDA runs. Both must give the same bits on the same inputs, for every op that has a host path,
/// at lengths that leave a SIMD tail.
/// </summary>
public class HostSimdTests
{
    static readonly Lazy<Runtime.Device> Kernels = new(Runtime.Device.CreateCpuWithWarpRows);

    static float[] Data(int seed, int n) => F32(Randn(seed, n) * 2);

    /// <summary>Runs <paramref name="op"/> on fresh copies of the inputs on both devices; returns every buffer after it.</summary>
    static void Same(string what, float[][] inputs, Action<Runtime.Device, ArrayView<float>[]> op)
    {
        float[][] Run(Runtime.Device d)
        {
            var buffers = inputs.Select(x => d.Accelerator.Allocate1D(x)).ToArray();
            try
            {
                op(d, buffers.Select(b => (ArrayView<float>)b.View).ToArray());
                d.Synchronize();
                return buffers.Select(b => b.GetAsArray1D()).ToArray();
            }
            finally { foreach (var b in buffers) b.Dispose(); }
        }
        Assert.True(Cpu.RunsOnHost && !Kernels.Value.RunsOnHost);
        var host = Run(Cpu);
        var kernel = Run(Kernels.Value);
        for (int i = 0; i < host.Length; i++)
            Assert.True(Bits(host[i]).SequenceEqual(Bits(kernel[i])), $"{what}: buffer {i} differs between the host path and the kernel");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(37)]
    [InlineData(4099)]
    public void ArithmeticMatchesTheKernels(int rows)
    {
        const int m = 5;
        int n = rows * m;
        var a = Data(1, n);
        var b = Data(2, n).Select(v => v + (v >= 0 ? 0.5f : -0.5f)).ToArray(); // away from 0 for division
        var small = Data(3, m).Select(v => v + 2f).ToArray();
        var one = new[] { 1.75f };
        foreach (var (name, run) in new (string, Action<Runtime.Device, ArrayView<float>, ArrayView<float>, ArrayView<float>>)[]
                 {
                     ("add", (d, x, y, z) => d.Arithmetic().Apply<AddOp>(x, y, z)),
                     ("sub", (d, x, y, z) => d.Arithmetic().Apply<SubOp>(x, y, z)),
                     ("mul", (d, x, y, z) => d.Arithmetic().Apply<MulOp>(x, y, z)),
                     ("div", (d, x, y, z) => d.Arithmetic().Apply<DivOp>(x, y, z)),
                 })
        {
            var z = new float[n];
            Same($"{name} same length", [a, b, z], (d, v) => run(d, v[0], v[1], v[2]));
            Same($"{name} b broadcast", [a, small, z], (d, v) => run(d, v[0], v[1], v[2]));
            Same($"{name} a broadcast", [small, b, z], (d, v) => run(d, v[0], v[1], v[2]));
            Same($"{name} b scalar", [a, one, z], (d, v) => run(d, v[0], v[1], v[2]));
            Same($"{name} a scalar", [one, b, z], (d, v) => run(d, v[0], v[1], v[2]));
            Same($"{name} in place", [a, b], (d, v) => run(d, v[0], v[1], v[0]));
        }
        Same("affine", [a, new float[n]], (d, v) => d.Arithmetic().Affine(v[0], -0.37f, 1.25f, v[1]));
        foreach (float w in new[] { 0.3f, 0.5f, 0.9f, 1f })
            Same($"lerp {w}", [a, b], (d, v) => d.Arithmetic().Lerp(v[0], v[1], w));
    }

    [Theory]
    [InlineData(3)]
    [InlineData(1001)]
    public void ElementwiseMatchesTheKernels(int n)
    {
        var x = Data(4, n);
        var y = Data(5, n);
        Same("fill", [y], (d, v) => d.Elementwise().Fill(v[0], -2.5f));
        Same("scale", [x, y], (d, v) => d.Elementwise().Scale(v[0], 0.37f, v[1]));
        Same("accumulate", [x, y], (d, v) => d.Elementwise().Accumulate(v[0], -1.3f, v[1]));
        Same("add", [x, y, new float[n]], (d, v) => d.Elementwise().Add(v[0], v[1], v[2]));
        Same("copy", [x, y], (d, v) => d.Elementwise().Copy(v[0], v[1]));
    }

    [Theory]
    [InlineData(0.37f)]
    [InlineData(1f)]
    public void ClipAndAdamWMatchTheKernels(float scale)
    {
        const int n = 1003;
        var param = Data(6, n);
        var grad = Data(7, n);
        var m = Data(8, n).Select(v => v * 0.01f).ToArray();
        var v2 = Data(9, n).Select(v => v * v * 0.001f).ToArray();
        Same("clip", [grad, [scale]], (d, v) => d.GradNorm().Clip(v[0], v[1]));
        for (int step = 1; step <= 3; step++)
        {
            var hp = new AdamWStep(1e-3, 0.9, 0.95, 1e-8, 0.1, step);
            Same($"adamw step {step}", [param, grad, m, v2, [scale]], (d, v) => d.AdamW().Step(v[0], v[1], v[2], v[3], hp, v[4]));
        }
    }
}
