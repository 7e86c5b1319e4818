using System.Numerics.Tensors;
using ILGPU;
using ILGPU.Runtime;
using Speedrun.Kernels.Numerics;

namespace Speedrun.Kernels.Ops;

// Element-wise utilities: fill, scale, copy, accumulate, add, and fp32 <-> bf16 casts.
// Every kernel is a grid-stride loop; none has a backward (they are linear or casts, handled by autograd).

internal static class ElementwiseKernelMethods
{
    [Kernel]
    internal static void FillKernel(ArrayView<float> y, float value)
    {
        int n = y.IntLength, stride = Threads.Count;
        for (int i = Threads.Index; i < n; i += stride) y[i] = value;
    }

    /// <summary>y = alpha * x (x and y may alias).</summary>
    [Kernel]
    internal static void ScaleKernel(ArrayView<float> x, float alpha, ArrayView<float> y)
    {
        int iEnd = y.IntLength, iStride = Threads.Count; // hoisted: each read is a call on the CPU accelerator
        for (int i = Threads.Index; i < iEnd; i += iStride) y[i] = alpha * x[i];
    }

    /// <summary>y += alpha * x.</summary>
    [Kernel]
    internal static void AccumulateKernel(ArrayView<float> x, float alpha, ArrayView<float> y)
    {
        int iEnd = y.IntLength, iStride = Threads.Count; // hoisted: each read is a call on the CPU accelerator
        for (int i = Threads.Index; i < iEnd; i += iStride) y[i] += alpha * x[i];
    }

    /// <summary>z = x + y (the residual add).</summary>
    [Kernel]
    internal static void AddKernel(ArrayView<float> x, ArrayView<float> y, ArrayView<float> z)
    {
        int iEnd = z.IntLength, iStride = Threads.Count; // hoisted: each read is a call on the CPU accelerator
        for (int i = Threads.Index; i < iEnd; i += iStride) z[i] = x[i] + y[i];
    }

    [Kernel]
    internal static void CopyKernel(ArrayView<float> x, ArrayView<float> y)
    {
        int iEnd = y.IntLength, iStride = Threads.Count; // hoisted: each read is a call on the CPU accelerator
        for (int i = Threads.Index; i < iEnd; i += iStride) y[i] = x[i];
    }

    /// <summary>fp32 -> bf16, round to nearest even.</summary>
    [Kernel]
    internal static void ToBFloat16Kernel(ArrayView<float> x, ArrayView<BFloat16> y)
    {
        int iEnd = y.IntLength, iStride = Threads.Count; // hoisted: each read is a call on the CPU accelerator
        for (int i = Threads.Index; i < iEnd; i += iStride) y[i] = new BFloat16(BFloat16.Round(x[i]));
    }

    /// <summary>bf16 -> fp32 (exact).</summary>
    [Kernel]
    internal static void ToFloat32Kernel(ArrayView<BFloat16> x, ArrayView<float> y)
    {
        int iEnd = y.IntLength, iStride = Threads.Count; // hoisted: each read is a call on the CPU accelerator
        for (int i = Threads.Index; i < iEnd; i += iStride) y[i] = BFloat16.Widen(x[i].Bits);
    }
}

/// <summary>Loaded element-wise kernels for one device; every method checks lengths before launching.</summary>
internal sealed class ElementwiseKernels
{
    readonly Runtime.Device _device;
    readonly Action<KernelConfig, ArrayView<float>, float> _fill;
    readonly Action<KernelConfig, ArrayView<float>, float, ArrayView<float>> _scale, _accumulate;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>> _add;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>> _copy;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<BFloat16>> _toBf16;
    readonly Action<KernelConfig, ArrayView<BFloat16>, ArrayView<float>> _toF32;

    public ElementwiseKernels(Runtime.Device device)
    {
        _device = device;
        var acc = device.Accelerator;
        _fill = acc.LoadStreamKernel<ArrayView<float>, float>(ElementwiseKernelMethods.FillKernel);
        _scale = acc.LoadStreamKernel<ArrayView<float>, float, ArrayView<float>>(ElementwiseKernelMethods.ScaleKernel);
        _accumulate = acc.LoadStreamKernel<ArrayView<float>, float, ArrayView<float>>(ElementwiseKernelMethods.AccumulateKernel);
        _add = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>>(ElementwiseKernelMethods.AddKernel);
        _copy = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>>(ElementwiseKernelMethods.CopyKernel);
        _toBf16 = acc.LoadStreamKernel<ArrayView<float>, ArrayView<BFloat16>>(ElementwiseKernelMethods.ToBFloat16Kernel);
        _toF32 = acc.LoadStreamKernel<ArrayView<BFloat16>, ArrayView<float>>(ElementwiseKernelMethods.ToFloat32Kernel);
    }

    KernelConfig Grid(long n) => _device.Launch.For(n);

    public void Fill(ArrayView<float> y, float value)
    {
        if (_device.RunsOnHost) { HostSimd.Span(y).Fill(value); return; }
        _fill(Grid(y.Length), y, value);
    }

    public void Scale(ArrayView<float> x, float alpha, ArrayView<float> y)
    {
        Shapes.SameLength("Scale", x, y);
        if (_device.RunsOnHost) { HostSimd.Scale(x, alpha, y); return; }
        _scale(Grid(y.Length), x, alpha, y);
    }

    public void Accumulate(ArrayView<float> x, float alpha, ArrayView<float> y)
    {
        Shapes.SameLength("Accumulate", x, y);
        if (_device.RunsOnHost) { HostSimd.Accumulate(x, alpha, y); return; }
        _accumulate(Grid(y.Length), x, alpha, y);
    }

    public void Add(ArrayView<float> x, ArrayView<float> y, ArrayView<float> z)
    {
        Shapes.SameLength("Add", x, y);
        Shapes.SameLength("Add", x, z);
        if (_device.RunsOnHost) { TensorPrimitives.Add(HostSimd.Span(x), HostSimd.Span(y), HostSimd.Span(z)); return; }
        _add(Grid(z.Length), x, y, z);
    }

    public void Copy(ArrayView<float> x, ArrayView<float> y)
    {
        Shapes.SameLength("Copy", x, y);
        if (_device.RunsOnHost) { HostSimd.Span(x).CopyTo(HostSimd.Span(y)); return; }
        _copy(Grid(y.Length), x, y);
    }

    public void ToBFloat16(ArrayView<float> x, ArrayView<BFloat16> y)
    {
        Shapes.SameLength("ToBFloat16", x, y);
        if (_device.RunsOnHost) { HostSimd.ToBFloat16(x, y); return; }
        _toBf16(Grid(y.Length), x, y);
    }

    public void ToFloat32(ArrayView<BFloat16> x, ArrayView<float> y)
    {
        Shapes.SameLength("ToFloat32", x, y);
        if (_device.RunsOnHost) { HostSimd.ToFloat32(x, y); return; }
        _toF32(Grid(y.Length), x, y);
    }
}
