using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using System.Numerics;
using VectorF = System.Numerics.Vector<float>;

namespace Speedrun.Kernels.Ops;

// Element-wise unary ops, each an operator struct (the System.Numerics.Tensors pattern): one generic
// forward kernel and one generic backward kernel, instantiated per operator. A training program can define
// its own operator and get a fused, differentiable op from F.Unary<TOp> with no kernel code of its own.
//
//   GeluErf      y = x·Φ(x),  Φ(x) = ½·erfc(-x/√2)  (PyTorch gelu(approximate='none'))
//                dx = dy·(Φ(x) + x·φ(x)),  φ(x) = e^(-x²/2)/√(2π)
//   GeluTanh     y = ½·x·(1 + tanh(u)),  u = √(2/π)·(x + 0.044715·x³)  (approximate='tanh', GPT-2)
//                computed as y = x·σ(2u), since ½(1 + tanh(u)) = σ(2u) = 1/(1 + e^(-2u)):
//                no tanh, no cancellation for negative x, and e^(-|2u|) ≤ 1 never overflows.
//                dx = dy·(σ + x·σ(1-σ)·2u'),  u' = √(2/π)·(1 + 3·0.044715·x²)
//   Square       y = x²,          dx = 2x·dy
//   Relu         y = max(x, 0),   dx = 0 where x ≤ 0, else dy (NaN propagates, as in PyTorch)
//   Tanh         y = tanh(x),     dx = (1 - y²)·dy
//   Sigmoid      y = 1/(1 + e^-x), dx = y(1 - y)·dy
//   Exp          y = e^x,         dx = y·dy
//   Sqrt         y = √x,          dx = dy/(2y)
//   RoundBf16    y = x rounded to the nearest bfloat16 (kept in fp32),  dx = dy rounded likewise
//
// Shapes: x, y, dy, dx all of length n (any n). dx is written, not accumulated.
// erf, e^x and tanh come from KernelMath (our own, accurate to a few ulps on both devices): XMath.Tanh is
// tanh.approx on CUDA (about 2^-11 relative error) and MathF.Tanh on the CPU. Backward recomputes the
// forward value from x (no output is saved).

/// <summary>Which GELU: the exact erf form or GPT-2's tanh approximation.</summary>
public enum GeluForm
{
    /// <summary>x·Φ(x) with the exact normal CDF (PyTorch's default).</summary>
    Erf,
    /// <summary>GPT-2's tanh approximation.</summary>
    Tanh,
}

/// <summary>An element-wise unary op: its value and its vector-Jacobian product.</summary>
public interface IUnaryOp
{
    /// <summary>y for one element.</summary>
    float Forward(float x);

    /// <summary>dL/dx given x and dL/dy.</summary>
    float Backward(float x, float dy);
}

/// <summary>
/// An element-wise op that also computes a whole SIMD vector at a time, each lane bit for bit what
/// <see cref="IUnaryOp.Forward"/> and <see cref="IUnaryOp.Backward"/> give it (KernelMath's vector overloads keep
/// that promise for e^x, tanh and σ). The CPU device's host path then runs it vector-wide; kernels use the scalar
/// methods. A program's own op may implement it when the CPU's time matters.
/// </summary>
public interface IVectorUnaryOp : IUnaryOp
{
    /// <summary>y for a vector of elements.</summary>
    Vector<float> Forward(Vector<float> x);

    /// <summary>dL/dx for a vector of elements.</summary>
    Vector<float> Backward(Vector<float> x, Vector<float> dy);
}

/// <summary>GELU, exact form: x·Φ(x) with the normal CDF Φ built on our own erfc.</summary>
public readonly struct GeluErf : IUnaryOp
{
    const float InvSqrt2 = 0.707106781f;
    const float InvSqrt2Pi = 0.398942280f;

    static float NormalCdf(float x) => 0.5f * KernelMath.Erfc(-x * InvSqrt2);

    /// <inheritdoc/>
    public float Forward(float x) => x * NormalCdf(x);

    /// <inheritdoc/>
    public float Backward(float x, float dy)
    {
        float density = InvSqrt2Pi * KernelMath.ExpNegScaledSquare(x, 0.5f);
        return dy * (NormalCdf(x) + x * density);
    }

    // The same two, SIMD-wide, for the CPU device's host path (same bits per lane; see HostVectorMath).
    static VectorF NormalCdf(VectorF x) =>
        new VectorF(0.5f) * HostVectorMath.Erfc(-x * new VectorF(InvSqrt2));

    internal static VectorF Forward(VectorF x) => x * NormalCdf(x);

    internal static VectorF Backward(VectorF x, VectorF dy)
    {
        var density = new VectorF(InvSqrt2Pi) * HostVectorMath.ExpNegScaledSquare(x, 0.5f);
        return dy * (NormalCdf(x) + x * density);
    }
}

/// <summary>GELU, tanh form (GPT-2's), evaluated as x·σ(2u).</summary>
public readonly struct GeluTanh : IUnaryOp
{
    const float SqrtTwoOverPi = 0.797884561f;
    const float Cubic = 0.044715f;

    static float TwoU(float x) => 2f * SqrtTwoOverPi * (x + Cubic * x * x * x);

    /// <inheritdoc/>
    public float Forward(float x)
    {
        float v = TwoU(x);
        float e = KernelMath.Exp(-XMath.Abs(v));
        float sigma = (v >= 0f ? 1f : e) / (1f + e);
        return x * sigma;
    }

    /// <inheritdoc/>
    public float Backward(float x, float dy)
    {
        float v = TwoU(x);
        float e = KernelMath.Exp(-XMath.Abs(v));
        float d = 1f + e;
        float sigma = (v >= 0f ? 1f : e) / d;
        float sigmaSlope = e / (d * d); // σ(v)·(1 - σ(v))
        float dv = 2f * SqrtTwoOverPi * (1f + 3f * Cubic * x * x);
        return dy * (sigma + x * sigmaSlope * dv);
    }
}

/// <summary>x².</summary>
public readonly struct Square : IUnaryOp
{
    /// <inheritdoc/>
    public float Forward(float x) => x * x;
    /// <inheritdoc/>
    public float Backward(float x, float dy) => 2f * x * dy;
}

/// <summary>max(x, 0); NaN propagates, and the gradient is zeroed only where x ≤ 0, as in PyTorch.</summary>
public readonly struct Relu : IUnaryOp
{
    /// <inheritdoc/>
    public float Forward(float x) => x < 0f ? 0f : x;
    /// <inheritdoc/>
    public float Backward(float x, float dy) => x <= 0f ? 0f : dy;
}

/// <summary>tanh(x) (<see cref="KernelMath.Tanh(float)"/>).</summary>
public readonly struct Tanh : IVectorUnaryOp
{
    /// <inheritdoc/>
    public float Forward(float x) => KernelMath.Tanh(x);
    /// <inheritdoc/>
    public float Backward(float x, float dy)
    {
        float t = KernelMath.Tanh(x);
        return (1f - t * t) * dy;
    }
    /// <inheritdoc/>
    public VectorF Forward(VectorF x) => KernelMath.Tanh(x);
    /// <inheritdoc/>
    public VectorF Backward(VectorF x, VectorF dy)
    {
        var t = KernelMath.Tanh(x);
        return (VectorF.One - t * t) * dy;
    }
}

/// <summary>The logistic function 1/(1 + e^-x) (<see cref="KernelMath.Sigmoid(float)"/>).</summary>
public readonly struct Sigmoid : IVectorUnaryOp
{
    /// <inheritdoc/>
    public float Forward(float x) => KernelMath.Sigmoid(x);
    /// <inheritdoc/>
    public float Backward(float x, float dy)
    {
        float s = KernelMath.Sigmoid(x);
        return s * (1f - s) * dy;
    }
    /// <inheritdoc/>
    public VectorF Forward(VectorF x) => KernelMath.Sigmoid(x);
    /// <inheritdoc/>
    public VectorF Backward(VectorF x, VectorF dy)
    {
        var s = KernelMath.Sigmoid(x);
        return s * (VectorF.One - s) * dy;
    }
}

/// <summary>√x (IEEE square root on both devices); NaN below 0.</summary>
public readonly struct Sqrt : IUnaryOp
{
    /// <inheritdoc/>
    public float Forward(float x) => XMath.Sqrt(x);
    /// <inheritdoc/>
    public float Backward(float x, float dy) => dy / (2f * XMath.Sqrt(x));
}

/// <summary>The nearest bfloat16 (ties to even; NaN stays NaN), kept in float32: what x.bfloat16().float() gives
/// in PyTorch, for programs that compute in bf16 with fp32 storage. The gradient is rounded the same way, as the
/// gradient of a bf16 tensor is bf16 in PyTorch.</summary>
public readonly struct RoundBf16 : IUnaryOp
{
    /// <inheritdoc/>
    public float Forward(float x) => Numerics.BFloat16.Widen(Numerics.BFloat16.Round(x));
    /// <inheritdoc/>
    public float Backward(float x, float dy) => Numerics.BFloat16.Widen(Numerics.BFloat16.Round(dy));
}

/// <summary>e^x (<see cref="KernelMath.Exp(float)"/>).</summary>
public readonly struct Exp : IVectorUnaryOp
{
    /// <inheritdoc/>
    public float Forward(float x) => KernelMath.Exp(x);
    /// <inheritdoc/>
    public float Backward(float x, float dy) => KernelMath.Exp(x) * dy;
    /// <inheritdoc/>
    public VectorF Forward(VectorF x) => KernelMath.Exp(x);
    /// <inheritdoc/>
    public VectorF Backward(VectorF x, VectorF dy) => KernelMath.Exp(x) * dy;
}

internal static class ActivationKernelMethods
{
    /// <summary>y = op(x).</summary>
    [Kernel(typeof(GeluErf), typeof(GeluTanh), typeof(Square), typeof(Relu), typeof(Tanh), typeof(Sigmoid), typeof(Exp), typeof(Sqrt), typeof(RoundBf16))]
    internal static void ForwardKernel<TOp>(ArrayView<float> x, ArrayView<float> y)
        where TOp : struct, IUnaryOp
    {
        var op = default(TOp);
        int iEnd = y.IntLength, iStride = Threads.Count; // hoisted: each read is a call on the CPU accelerator
        for (int i = Threads.Index; i < iEnd; i += iStride) y[i] = op.Forward(x[i]);
    }

    /// <summary>dx = op'(x)·dy (written).</summary>
    [Kernel(typeof(GeluErf), typeof(GeluTanh), typeof(Square), typeof(Relu), typeof(Tanh), typeof(Sigmoid), typeof(Exp), typeof(Sqrt), typeof(RoundBf16))]
    internal static void BackwardKernel<TOp>(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> dx)
        where TOp : struct, IUnaryOp
    {
        var op = default(TOp);
        int iEnd = dx.IntLength, iStride = Threads.Count; // hoisted: each read is a call on the CPU accelerator
        for (int i = Threads.Index; i < iEnd; i += iStride) dx[i] = op.Backward(x[i], dy[i]);
    }
}

/// <summary>
/// Loaded activation kernels for one device: <c>Forward&lt;GeluTanh&gt;(x, y)</c>,
/// <c>Backward&lt;GeluTanh&gt;(x, dy, dx)</c>, or the named methods (<c>Gelu(x, y, GeluForm.Tanh)</c>).
/// Each operator is compiled and loaded on its first use, including one a training program defines.
/// </summary>
internal sealed class ActivationKernels
{
    readonly Runtime.Device _device;
    readonly Dictionary<Type, Loaded> _loaded = new();

    sealed record Loaded(
        Action<KernelConfig, ArrayView<float>, ArrayView<float>> Forward,
        Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>> Backward);

    public ActivationKernels(Runtime.Device device)
    {
        _device = device;
        Load<GeluErf>();
        Load<GeluTanh>();
    }

    Loaded Load<TOp>() where TOp : struct, IUnaryOp
    {
        if (_loaded.TryGetValue(typeof(TOp), out var loaded)) return loaded;
        var acc = _device.Accelerator;
        loaded = new Loaded(
            acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>>(ActivationKernelMethods.ForwardKernel<TOp>),
            acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>>(
                ActivationKernelMethods.BackwardKernel<TOp>));
        _loaded[typeof(TOp)] = loaded;
        return loaded;
    }

    /// <summary>y = op(x), element-wise.</summary>
    public void Forward<TOp>(ArrayView<float> x, ArrayView<float> y) where TOp : struct, IUnaryOp
    {
        Shapes.SameLength(typeof(TOp).Name, x, y);
        if (_device.RunsOnHost) { HostSimd.Unary<TOp>(x, y); return; }
        Load<TOp>().Forward(_device.Launch.For(y.Length), x, y);
    }

    /// <summary>dx = op'(x)·dy, element-wise; dx is overwritten.</summary>
    public void Backward<TOp>(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> dx)
        where TOp : struct, IUnaryOp
    {
        string op = typeof(TOp).Name + " backward";
        Shapes.SameLength(op, x, dy);
        Shapes.SameLength(op, x, dx);
        if (_device.RunsOnHost) { HostSimd.UnaryBackward<TOp>(x, dy, dx); return; }
        Load<TOp>().Backward(_device.Launch.For(dx.Length), x, dy, dx);
    }

    public void Gelu(ArrayView<float> x, ArrayView<float> y, GeluForm form)
    {
        switch (form)
        {
            case GeluForm.Erf: Forward<GeluErf>(x, y); break;
            case GeluForm.Tanh: Forward<GeluTanh>(x, y); break;
            default: throw UnknownForm(form);
        }
    }

    public void GeluBackward(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> dx, GeluForm form)
    {
        switch (form)
        {
            case GeluForm.Erf: Backward<GeluErf>(x, dy, dx); break;
            case GeluForm.Tanh: Backward<GeluTanh>(x, dy, dx); break;
            default: throw UnknownForm(form);
        }
    }

    static ArgumentOutOfRangeException UnknownForm(GeluForm form) =>
        new(nameof(form), form, "Gelu: the form must be GeluForm.Erf or GeluForm.Tanh.");
}

internal static class ActivationOps
{
    public static ActivationKernels Activations(this Runtime.Device d) => d.Kernels(static d => new ActivationKernels(d));
}
