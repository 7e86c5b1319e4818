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
        {
            long worst = 0; int count = 0, at = -1;
            for (int j = 0; j < host[i].Length; j++)
            {
                if (float.IsNaN(host[i][j]) && float.IsNaN(kernel[i][j])) continue; // NaN payloads and signs may differ
                long ulps = Math.Abs((long)BitConverter.SingleToInt32Bits(host[i][j]) - BitConverter.SingleToInt32Bits(kernel[i][j]));
                if (ulps != 0) { count++; if (ulps > worst) (worst, at) = (ulps, j); }
            }
            Assert.True(count == 0, $"{what}: buffer {i} differs between the host path and the kernel at {count} elements, worst {worst} ulps at [{at}]: host {(at >= 0 ? host[i][at] : 0):G9}, kernel {(at >= 0 ? kernel[i][at] : 0):G9}, input {(at >= 0 ? inputs[0][at] : 0):G9}");
        }
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

    [Fact]
    public void UnaryOperatorsMatchTheKernels()
    {
        const int n = 1001;
        var x = Data(12, n).Select((v, i) => i % 97 == 0 ? float.NaN : v * 4).ToArray();
        var dy = Data(13, n);
        void Check<TOp>() where TOp : struct, IUnaryOp
        {
            var input = typeof(TOp) == typeof(Sqrt) ? x.Select(MathF.Abs).ToArray() : x;
            Same($"{typeof(TOp).Name} forward", [input, new float[n]], (d, v) => d.Activations().Forward<TOp>(v[0], v[1]));
            Same($"{typeof(TOp).Name} backward", [input, dy, new float[n]], (d, v) => d.Activations().Backward<TOp>(v[0], v[1], v[2]));
        }
        Check<GeluErf>(); Check<GeluTanh>(); Check<Square>(); Check<Relu>(); Check<Tanh>();
        Check<Sigmoid>(); Check<Exp>(); Check<Sqrt>(); Check<RoundBf16>();
    }

    /// <summary>GELU (erf) runs SIMD-wide on the host (HostVectorMath): every lane must give the scalar kernel's
    /// bits, over a dense grid through both erf branches, the exp limits and the special values.</summary>
    [Fact]
    public void GeluErfMatchesTheKernelsOnADenseGrid()
    {
        var grid = Enumerable.Range(0, 48001).Select(i => -12f + i * 0.0005f)
            .Concat([0f, -0f, float.Epsilon, -float.Epsilon, 1e-30f, -1e-30f, 0.7071067f, -0.7071068f, 14.5f, -14.5f, 20f, -20f,
                     200f, -200f, float.MaxValue, float.MinValue, float.PositiveInfinity, float.NegativeInfinity, float.NaN])
            .ToArray();
        var dy = Data(16, grid.Length);
        Same("GeluErf forward, dense grid", [grid, new float[grid.Length]], (d, v) => d.Activations().Forward<GeluErf>(v[0], v[1]));
        Same("GeluErf backward, dense grid", [grid, dy, new float[grid.Length]], (d, v) => d.Activations().Backward<GeluErf>(v[0], v[1], v[2]));
    }

    /// <summary>Tanh, Sigmoid and Exp run SIMD-wide on the host (IVectorUnaryOp, HostVectorMath): every lane must give
    /// the scalar kernel's bits, over a dense grid through tanh's series and exp branches (|x| = 0.25), exp's
    /// underflow and overflow limits, the subnormals and the special values.</summary>
    [Fact]
    public void VectorUnaryOpsMatchTheKernelsOnADenseGrid()
    {
        var grid = Enumerable.Range(0, 48001).Select(i => -120f + i * 0.005f)
            .Concat(Enumerable.Range(0, 4001).Select(i => -1f + i * 0.0005f))
            .Concat([0f, -0f, 0.25f, -0.25f, 0.2499999f, -0.2500001f, float.Epsilon, -float.Epsilon, 1e-30f, -1e-30f,
                     -104f, -104.0001f, 88.8f, 88.80001f, 52f, -52f, float.MaxValue, float.MinValue,
                     float.PositiveInfinity, float.NegativeInfinity, float.NaN])
            .ToArray();
        var dy = Data(17, grid.Length);
        void Check<TOp>() where TOp : struct, IVectorUnaryOp
        {
            Same($"{typeof(TOp).Name} forward, dense grid", [grid, new float[grid.Length]], (d, v) => d.Activations().Forward<TOp>(v[0], v[1]));
            Same($"{typeof(TOp).Name} backward, dense grid", [grid, dy, new float[grid.Length]], (d, v) => d.Activations().Backward<TOp>(v[0], v[1], v[2]));
        }
        Check<Tanh>(); Check<Sigmoid>(); Check<Exp>();
    }

    /// <summary>The reductions' host path keeps the kernels' fixed order (Reduction.cs) at every stage: lengths that
    /// skip both strided stages, take one, take both, and leave ragged last rows.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(31)]
    [InlineData(1025)]
    [InlineData(65537)]
    [InlineData(200003)]
    public void ReductionsMatchTheKernels(int n)
    {
        var x = Data(17, n).Select((v, i) => v * (1 + i % 7)).ToArray();
        Same($"sum of {n}", [x, [0f]], (d, v) => d.Reduction().Sum(v[0], v[1]));
        Same($"sum of squares of {n}", [x, [0f]], (d, v) => d.Reduction().SumOfSquares(v[0], v[1]));
    }

    /// <summary>RMSNorm's host path is the one-lane kernel's arithmetic (row sums left to right); the warp-row
    /// device runs that kernel with one lane for the comparison.</summary>
    [Theory]
    [InlineData(37, 128)]
    [InlineData(5, 67)]
    public void RmsNormMatchesTheOneLaneKernel(int rows, int cols)
    {
        var x = Data(18, rows * cols);
        var dy = Data(19, rows * cols);
        RmsNormKernels Norm(Runtime.Device d) => d.RunsOnHost ? d.RmsNorm() : new RmsNormKernels(d, rowLanes: 1);
        Same("rms_norm forward", [x, new float[rows * cols], new float[rows]], (d, v) => Norm(d).Forward(v[0], rows, cols, 1e-6f, v[1], v[2]));
        var rstd = Enumerable.Range(0, rows).Select(r => 1f / MathF.Sqrt(x.Skip(r * cols).Take(cols).Sum(v => v * v) / cols + 1e-6f)).ToArray();
        Same("rms_norm backward", [dy, x, rstd, new float[rows * cols]], (d, v) => Norm(d).Backward(v[0], v[1], v[2], rows, cols, v[3]));
    }

    /// <summary>The bf16 casts run SIMD-wide on the host: the same bits as the kernels for ties (even and odd), carries
    /// into the exponent, overflow to infinity, subnormals, signed zeros and NaNs (which stay NaN), at a length
    /// that leaves a tail.</summary>
    [Fact]
    public void Bf16CastsMatchTheKernels()
    {
        var special = new uint[]
        {
            0x3F80_8000, 0x3F81_8000, 0x3F80_7FFF, 0x3F80_8001, 0x3FFF_FFFF, 0x7F7F_FFFF, 0xFF7F_FFFF, 0x7F80_0000, 0xFF80_0000,
            0x0000_0001, 0x8000_8000, 0x0000_0000, 0x8000_0000, 0x7FC0_0000, 0x7F80_0001, 0xFFFF_FFFF, 0x7FBF_FFFF,
        };
        var rng = new Random(20);
        var x = special.Concat(Enumerable.Range(0, 1000).Select(_ => (uint)rng.NextInt64(0, 1L << 32)))
            .Select(BitConverter.UInt32BitsToSingle).ToArray();
        (ushort[] Rounded, float[] Widened) Run(Runtime.Device d)
        {
            using var input = d.Accelerator.Allocate1D(x);
            using var bf16 = d.Accelerator.Allocate1D<Speedrun.Kernels.Numerics.BFloat16>(x.Length);
            using var back = d.Accelerator.Allocate1D<float>(x.Length);
            d.Elementwise().ToBFloat16(input.View, bf16.View);
            d.Elementwise().ToFloat32(bf16.View, back.View);
            d.Synchronize();
            return (bf16.GetAsArray1D().Select(b => b.Bits).ToArray(), back.GetAsArray1D());
        }
        var host = Run(Cpu);
        var kernel = Run(Kernels.Value);
        Assert.Equal(kernel.Rounded, host.Rounded);
        Assert.Equal(Bits(kernel.Widened), Bits(host.Widened));
        Assert.Equal((ushort)0x3F80, host.Rounded[0]); // a tie rounds to even: down here ...
        Assert.Equal((ushort)0x3F82, host.Rounded[1]); // ... and up here
        Assert.Equal((ushort)0x7F80, host.Rounded[5]); // the largest float rounds to infinity
        Assert.True(float.IsNaN(host.Widened[14]));    // a signalling NaN whose top bits alone would read as infinity
        Same("round_bf16 over the same inputs", [x, new float[x.Length]], (d, v) => d.Activations().Forward<RoundBf16>(v[0], v[1]));
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

    /// <summary>Cross-entropy's host path is not the kernel's bits (vectorised exp, another summation order) but
    /// agrees within what both keep from float64: 2e-6 on the loss, 1e-8 + 2e-5 relative on the gradient.</summary>
    [Theory]
    [InlineData(5, 13, 16)]
    [InlineData(33, 1000, 1000)]
    public void CrossEntropyHostPathAgreesWithTheKernel(int n, int v, int vp)
    {
        var logits = F32(Randn(11, n * vp) * 3);
        var targets = Enumerable.Range(0, n).Select(i => i == 2 ? -1 : (i * 7919) % v).ToArray();
        (float[] Losses, float[] Grad) Run(Runtime.Device d)
        {
            using var z = d.Accelerator.Allocate1D(logits);
            using var t = d.Accelerator.Allocate1D(targets);
            using var losses = d.Accelerator.Allocate1D<float>(n);
            using var dz = d.Accelerator.Allocate1D<float>(n * vp);
            d.CrossEntropy().ForwardBackward(z.View, t.View, n, v, vp, 1f / n, losses.View, dz.View);
            d.Synchronize();
            var fused = losses.GetAsArray1D();
            d.CrossEntropy().Forward(z.View, t.View, n, v, vp, losses.View);
            d.Synchronize();
            Assert.True(Bits(fused).SequenceEqual(Bits(losses.GetAsArray1D())), "the loss-only path gives other bits than the fused one");
            return (fused, dz.GetAsArray1D());
        }
        var host = Run(Cpu);
        var kernel = Run(Kernels.Value);
        Close(kernel.Losses.Select(x => (double)x).ToArray(), host.Losses, 2e-6, 2e-6, "cross-entropy losses, host vs kernel");
        Close(kernel.Grad.Select(x => (double)x).ToArray(), host.Grad, 1e-8, 2e-5, "cross-entropy gradient, host vs kernel");
        Assert.All(Enumerable.Range(0, vp), j => Assert.Equal(0f, host.Grad[2 * vp + j])); // the ignored row
    }

    [Fact]
    public void LayoutMatchesTheKernels()
    {
        var x = Data(14, 2 * 3 * 4 * 5 * 6);
        Same("transpose", [x, new float[x.Length]], (d, v) => d.Layout().Transpose(v[0], 2, 3, 4, 5, 6, v[1]));
        // Single elements (inner 1) take the host's tiled path; 37 x 70 spans partial tiles on both sides.
        var x1 = Data(16, 2 * 37 * 3 * 70);
        Same("transpose, inner 1", [x1, new float[x1.Length]], (d, v) => d.Layout().Transpose(v[0], 2, 37, 3, 70, 1, v[1]));
        Same("copy columns", [x, new float[60 * 20]], (d, v) => d.Layout().CopyColumns(v[0], 12, 3, v[1], 20, 7, 60, 5));
        var g = Data(15, 7);
        Same("repeat", [g, new float[7 * 9]], (d, v) => d.Layout().Repeat(v[0], 9, 0.5f, v[1]));
        // Row sums: the warp-row device sums with two lanes (another order); the host path keeps the one-lane
        // kernel's order, left to right, which this reference spells out.
        using var xs = Cpu.Accelerator.Allocate1D(x);
        using var sums = Cpu.Accelerator.Allocate1D<float>(60);
        Cpu.Layout().RowSums(xs.View, 60, 12, sums.View);
        var expected = Enumerable.Range(0, 60).Select(r => { float s = 0f; for (int c = 0; c < 12; c++) s += x[r * 12 + c]; return s; }).ToArray();
        Assert.Equal(Bits(expected), Bits(Download(sums.View)));
    }
}
