using Speedrun.Tests.Torch;
using System.Text;
using ILGPU.Runtime;
using BFloat16 = Speedrun.Kernels.Numerics.BFloat16;
using TorchSharp;
using static TorchSharp.torch;

namespace Speedrun.Kernels.Tests;

/// <summary>
/// The one helper every op test uses: a shared CPU device, seeded random tensors, uploads and downloads,
/// and a closeness check that prints what llm.c's check_tensor prints (first pairs, worst error, index).
/// </summary>
public static class OpCheck
{
    static readonly Lazy<Runtime.Device> SharedCpu = new(() => Runtime.Device.Create(Runtime.DeviceKind.Cpu));

    /// <summary>The CPU device all kernel tests run on.</summary>
    public static Runtime.Device Cpu => SharedCpu.Value;

    /// <summary>Float64 normal tensor with a fixed seed (float64 so the reference is exact enough).</summary>
    public static Tensor Randn(int seed, params long[] shape)
    {
        using var g = new Generator((ulong)seed);
        return torch.randn(shape, ScalarType.Float64, generator: g);
    }

    /// <summary>Uniform in [lo, hi) as float64.</summary>
    public static Tensor Uniform(int seed, double lo, double hi, params long[] shape)
    {
        using var g = new Generator((ulong)seed);
        return torch.rand(shape, ScalarType.Float64, generator: g) * (hi - lo) + lo;
    }

    /// <summary>The float64 tensor holding exactly the float32 values <see cref="Upload(Tensor)"/> puts on the
    /// device, so a float64 reference sees the same inputs as the kernel.</summary>
    public static Tensor Exact32(Tensor t)
    {
        // The float32 copy is disposed (so held) after the second conversion, and t is kept alive through the first:
        // callers often pass a temporary, whose finalizer could otherwise free its storage while to_type reads it
        // (see KernelMathTests.WorstUlps).
        using var single = t.to_type(ScalarType.Float32);
        var exact = single.to_type(ScalarType.Float64);
        GC.KeepAlive(t);
        return exact;
    }

    // t is kept alive through the conversion, as in Exact32.
    /// <summary>Values of a tensor as float32, row-major.</summary>
    public static float[] F32(Tensor t)
    {
        var values = TensorData.Read<float>(t.to_type(ScalarType.Float32));
        GC.KeepAlive(t);
        return values;
    }

    public static double[] F64(Tensor t)
    {
        var values = TensorData.Read<double>(t.to_type(ScalarType.Float64));
        GC.KeepAlive(t);
        return values;
    }

    /// <summary>A float32 tensor on the device, rounded from the given (float64) tensor.</summary>
    public static MemoryBuffer1D<float, Stride1D.Dense> Upload(Tensor t) => Cpu.Accelerator.Allocate1D(F32(t));

    public static MemoryBuffer1D<float, Stride1D.Dense> Upload(float[] data) => Cpu.Accelerator.Allocate1D(data);

    public static MemoryBuffer1D<int, Stride1D.Dense> Upload(int[] data) => Cpu.Accelerator.Allocate1D(data);

    public static MemoryBuffer1D<BFloat16, Stride1D.Dense> UploadBf16(float[] data) =>
        Cpu.Accelerator.Allocate1D(data.Select(BFloat16.FromFloat).ToArray());

    /// <summary>An uninitialised-looking device buffer: filled with NaN so an unwritten element fails the check.</summary>
    public static MemoryBuffer1D<float, Stride1D.Dense> Poisoned(long length)
    {
        var b = Cpu.Accelerator.Allocate1D<float>(length);
        b.CopyFromCPU(Enumerable.Repeat(float.NaN, checked((int)length)).ToArray());
        return b;
    }

    public static float[] Download(MemoryBuffer1D<float, Stride1D.Dense> b)
    {
        Cpu.Synchronize();
        return b.GetAsArray1D();
    }

    public static float[] Download(ArrayView<float> v)
    {
        Cpu.Synchronize();
        var result = new float[v.Length];
        v.CopyToCPU(result);
        return result;
    }

    /// <summary>Asserts |actual - expected| &lt;= atol + rtol * |expected| element-wise; NaN never passes.</summary>
    public static void Close(Tensor expected, float[] actual, double atol, double rtol, string what) =>
        Close(F64(expected), actual, atol, rtol, what);

    public static void Close(double[] expected, float[] actual, double atol, double rtol, string what)
    {
        Assert.True(expected.Length == actual.Length,
            $"{what}: expected {expected.Length} values, got {actual.Length}");
        int bad = 0, worst = -1;
        double worstRatio = 0, maxAbs = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double diff = Math.Abs(actual[i] - expected[i]);
            double allowed = atol + rtol * Math.Abs(expected[i]);
            double ratio = double.IsNaN(diff) ? double.PositiveInfinity : diff / allowed;
            if (ratio > worstRatio) { worstRatio = ratio; worst = i; }
            if (!(diff <= allowed)) bad++;
            if (!double.IsNaN(diff)) maxAbs = Math.Max(maxAbs, diff);
        }
        if (bad == 0) return;
        var sb = new StringBuilder();
        sb.AppendLine($"{what}: {bad} of {expected.Length} values outside atol={atol:G3} rtol={rtol:G3}; " +
                      $"max abs diff {maxAbs:G4}; worst at [{worst}] expected {expected[worst]:G8} got {actual[worst]:G8} " +
                      $"({worstRatio * 100:F0}% of the tolerance)");
        for (int i = 0; i < Math.Min(10, expected.Length); i++)
            sb.AppendLine($"  [{i}] expected {expected[i]:G8} got {actual[i]:G8}");
        Assert.Fail(sb.ToString());
    }
}
