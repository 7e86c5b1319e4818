using ILGPU;
using ILGPU.Runtime;
using Speedrun.Kernels.Numerics;

namespace Speedrun.Kernels.Ops;

// fp32 <-> fp8 casts with a per-tensor scale, in PyTorch's terms:
//   quantize:    y = (x * scale).to(float8)        (x·scale in fp32, then rounded, saturating: see Float8)
//   dequantize:  x = y.to(float32) * scale         (the scale here is the *inverse* of the quantizing one,
//                                                   the way torch._scaled_mm's scale_a / scale_b are)
// No backward: a cast to fp8 is where a program's own Function decides what the gradient is.

/// <summary>The fp8 encodings an fp8 buffer can hold (see <see cref="Float8"/>).</summary>
internal enum Float8Format
{
    /// <summary>OCP E4M3 (torch.float8_e4m3fn): max 448, no infinity.</summary>
    E4M3,
    /// <summary>OCP E5M2 (torch.float8_e5m2): max 57344, with infinities.</summary>
    E5M2,
}

internal static class Float8KernelMethods
{
    /// <summary>y = e4m3(x·scale), saturating.</summary>
    [Kernel]
    internal static void ToE4M3Kernel(ArrayView<float> x, float scale, ArrayView<byte> y)
    {
        int iEnd = y.IntLength, iStride = Threads.Count; // hoisted: each read is a call on the CPU accelerator
        for (int i = Threads.Index; i < iEnd; i += iStride) y[i] = Float8.EncodeE4M3(x[i] * scale);
    }

    /// <summary>y = e5m2(x·scale), saturating.</summary>
    [Kernel]
    internal static void ToE5M2Kernel(ArrayView<float> x, float scale, ArrayView<byte> y)
    {
        int iEnd = y.IntLength, iStride = Threads.Count;
        for (int i = Threads.Index; i < iEnd; i += iStride) y[i] = Float8.EncodeE5M2(x[i] * scale);
    }

    /// <summary>x = decode(y)·scale.</summary>
    [Kernel]
    internal static void FromE4M3Kernel(ArrayView<byte> y, float scale, ArrayView<float> x)
    {
        int iEnd = x.IntLength, iStride = Threads.Count;
        for (int i = Threads.Index; i < iEnd; i += iStride) x[i] = Float8.DecodeE4M3(y[i]) * scale;
    }

    /// <summary>x = decode(y)·scale.</summary>
    [Kernel]
    internal static void FromE5M2Kernel(ArrayView<byte> y, float scale, ArrayView<float> x)
    {
        int iEnd = x.IntLength, iStride = Threads.Count;
        for (int i = Threads.Index; i < iEnd; i += iStride) x[i] = Float8.DecodeE5M2(y[i]) * scale;
    }
}

/// <summary>
/// Loaded fp8 cast kernels for one device. On the plain CPU device the same element operations run as host
/// loops over the (host-memory) buffers (Float8Spans: SIMD-wide), like the other element-wise families
/// (HostSimd.cs): same bits either way.
/// </summary>
internal sealed unsafe class Float8Kernels
{
    readonly Runtime.Device _device;
    readonly Action<KernelConfig, ArrayView<float>, float, ArrayView<byte>> _toE4M3, _toE5M2;
    readonly Action<KernelConfig, ArrayView<byte>, float, ArrayView<float>> _fromE4M3, _fromE5M2;

    public Float8Kernels(Runtime.Device device)
    {
        _device = device;
        var acc = device.Accelerator;
        _toE4M3 = acc.LoadStreamKernel<ArrayView<float>, float, ArrayView<byte>>(Float8KernelMethods.ToE4M3Kernel);
        _toE5M2 = acc.LoadStreamKernel<ArrayView<float>, float, ArrayView<byte>>(Float8KernelMethods.ToE5M2Kernel);
        _fromE4M3 = acc.LoadStreamKernel<ArrayView<byte>, float, ArrayView<float>>(Float8KernelMethods.FromE4M3Kernel);
        _fromE5M2 = acc.LoadStreamKernel<ArrayView<byte>, float, ArrayView<float>>(Float8KernelMethods.FromE5M2Kernel);
    }

    /// <summary>y = fp8(x·scale): round to nearest even, saturating to ±max; NaN stays NaN.</summary>
    public void Quantize(ArrayView<float> x, float scale, ArrayView<byte> y, Float8Format format)
    {
        Shapes.SameLength("ToFloat8", x, y);
        if (y.Length == 0) return;
        if (_device.RunsOnHost)
        {
            var sx = new ReadOnlySpan<float>((void*)x.LoadEffectiveAddressAsPtr(), x.IntLength);
            var sy = new Span<byte>((void*)y.LoadEffectiveAddressAsPtr(), y.IntLength);
            if (format == Float8Format.E4M3) Float8Spans.EncodeE4M3(sx, scale, sy);
            else Float8Spans.EncodeE5M2(sx, scale, sy);
            return;
        }
        (format == Float8Format.E4M3 ? _toE4M3 : _toE5M2)(_device.Launch.For(y.Length), x, scale, y);
    }

    /// <summary>x = decode(y)·scale (exact decode, one fp32 multiply).</summary>
    public void Dequantize(ArrayView<byte> y, Float8Format format, float scale, ArrayView<float> x)
    {
        Shapes.SameLength("FromFloat8", y, x);
        if (x.Length == 0) return;
        if (_device.RunsOnHost)
        {
            var sy = new ReadOnlySpan<byte>((void*)y.LoadEffectiveAddressAsPtr(), y.IntLength);
            var sx = new Span<float>((void*)x.LoadEffectiveAddressAsPtr(), x.IntLength);
            if (format == Float8Format.E4M3) Float8Spans.DecodeE4M3(sy, scale, sx);
            else Float8Spans.DecodeE5M2(sy, scale, sx);
            return;
        }
        (format == Float8Format.E4M3 ? _fromE4M3 : _fromE5M2)(_device.Launch.For(x.Length), y, scale, x);
    }
}

internal static class Float8Ops
{
    public static Float8Kernels Float8Casts(this Runtime.Device d) => d.Kernels(static d => new Float8Kernels(d));
}
