using ILGPU;
using ILGPU.Runtime;

namespace Speedrun.Kernels.Ops;

// Element-wise binary arithmetic with broadcasting over leading dimensions, each op an operator struct:
//
//   same length       z[i] = op(a[i], b[i])                      a, b, z of length n
//   b broadcast       z[i] = op(a[i], b[i mod m])                b of length m, m divides n
//   a broadcast       z[i] = op(a[i mod m], b[i])                a of length m, m divides n
//
//   Add  a + b      Sub  a - b      Mul  a · b      Div  a / b
//
// z may alias a or b (in-place updates). Backward needs no kernel of its own: the gradient of the large
// operand is another broadcast op (dz·b, dz / b, ...), and that of the broadcast operand is such a term
// summed over the repeats (ColumnSum). Also here: z = α·x + β and torch's lerp, a + w·(b - a) (rounded as
// torch rounds it).

/// <summary>A binary element-wise operator (a struct, so the kernel is specialised for it).</summary>
internal interface IBinaryOp
{
    /// <summary>The value for one pair of elements.</summary>
    float Apply(float a, float b);
}

/// <summary>a + b.</summary>
internal readonly struct AddOp : IBinaryOp
{
    /// <inheritdoc/>
    public float Apply(float a, float b) => a + b;
}

/// <summary>a - b.</summary>
internal readonly struct SubOp : IBinaryOp
{
    /// <inheritdoc/>
    public float Apply(float a, float b) => a - b;
}

/// <summary>a · b.</summary>
internal readonly struct MulOp : IBinaryOp
{
    /// <inheritdoc/>
    public float Apply(float a, float b) => a * b;
}

/// <summary>a / b.</summary>
internal readonly struct DivOp : IBinaryOp
{
    /// <inheritdoc/>
    public float Apply(float a, float b) => a / b;
}

/// <summary>-a·b/(c·c): the gradient of a/c with respect to c, times a incoming gradient (used as
/// op(dz·a, c) after a Mul); kept as an op so the division backward needs one pass.</summary>
internal readonly struct DivGradDenominatorOp : IBinaryOp
{
    public float Apply(float numeratorTimesGrad, float c) => -numeratorTimesGrad / (c * c);
}

internal static class ArithmeticKernelMethods
{
    [Kernel(typeof(AddOp), typeof(SubOp), typeof(MulOp), typeof(DivOp), typeof(DivGradDenominatorOp))]
    internal static void SameLengthKernel<TOp>(ArrayView<float> a, ArrayView<float> b, ArrayView<float> z)
        where TOp : struct, IBinaryOp
    {
        var op = default(TOp);
        int iEnd = z.IntLength, iStride = Threads.Count; // hoisted: each read is a call on the CPU accelerator
        for (int i = Threads.Index; i < iEnd; i += iStride) z[i] = op.Apply(a[i], b[i]);
    }

    /// <summary>z[i] = op(a[i], b[0]) when bSmall, else op(a[0], b[i]): a one-element operand (a λ, a norm, a
    /// clip factor), read once per thread instead of once per element.</summary>
    [Kernel(typeof(AddOp), typeof(SubOp), typeof(MulOp), typeof(DivOp), typeof(DivGradDenominatorOp))]
    internal static void ScalarKernel<TOp>(ArrayView<float> a, ArrayView<float> b, int bSmall, ArrayView<float> z)
        where TOp : struct, IBinaryOp
    {
        var op = default(TOp);
        int iEnd = z.IntLength, iStride = Threads.Count;
        if (bSmall != 0)
        {
            float s = b[0];
            for (int i = Threads.Index; i < iEnd; i += iStride) z[i] = op.Apply(a[i], s);
        }
        else
        {
            float s = a[0];
            for (int i = Threads.Index; i < iEnd; i += iStride) z[i] = op.Apply(s, b[i]);
        }
    }

    /// <summary>z[i] = op(a[i], b[i mod m]) when bSmall, else op(a[i mod m], b[i]).</summary>
    [Kernel(typeof(AddOp), typeof(SubOp), typeof(MulOp), typeof(DivOp), typeof(DivGradDenominatorOp))]
    internal static void BroadcastKernel<TOp>(ArrayView<float> a, ArrayView<float> b, int m, int bSmall,
        ArrayView<float> z) where TOp : struct, IBinaryOp
    {
        var op = default(TOp);
        int iEnd = z.IntLength, iStride = Threads.Count;
        for (int i = Threads.Index; i < iEnd; i += iStride)
        {
            int j = i % m;
            z[i] = bSmall != 0 ? op.Apply(a[i], b[j]) : op.Apply(a[j], b[i]);
        }
    }

    /// <summary>y = alpha·x + beta (x and y may alias).</summary>
    [Kernel]
    internal static void AffineKernel(ArrayView<float> x, float alpha, float beta, ArrayView<float> y)
    {
        int iEnd = y.IntLength, iStride = Threads.Count;
        for (int i = Threads.Index; i < iEnd; i += iStride) y[i] = alpha * x[i] + beta;
    }

    /// <summary>a[i] = lerp(a[i], b[i], w), rounded as torch's lerp_: a + w·(b − a) for w &lt; ½, else
    /// b − (1 − w)·(b − a), so that w = 1 gives b exactly.</summary>
    [Kernel]
    internal static void LerpKernel(ArrayView<float> a, ArrayView<float> b, float w)
    {
        int iEnd = a.IntLength, iStride = Threads.Count;
        float rest = 1f - w;
        bool fromEnd = w >= 0.5f;
        for (int i = Threads.Index; i < iEnd; i += iStride)
        {
            float x = a[i], y = b[i], d = y - x;
            a[i] = fromEnd ? y - rest * d : x + w * d;
        }
    }
}

/// <summary>Loaded arithmetic kernels for one device; every method checks lengths before launching.</summary>
internal sealed class ArithmeticKernels
{
    readonly Runtime.Device _device;
    readonly Dictionary<Type, Loaded> _loaded = new();

    sealed record Loaded(
        Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>> Same,
        Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, ArrayView<float>> Scalar,
        Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int, ArrayView<float>> Broadcast);
    readonly Action<KernelConfig, ArrayView<float>, float, float, ArrayView<float>> _affine;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, float> _lerp;

    public ArithmeticKernels(Runtime.Device device)
    {
        _device = device;
        var acc = device.Accelerator;
        _affine = acc.LoadStreamKernel<ArrayView<float>, float, float, ArrayView<float>>(ArithmeticKernelMethods.AffineKernel);
        _lerp = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, float>(ArithmeticKernelMethods.LerpKernel);
    }

    Loaded Load<TOp>() where TOp : struct, IBinaryOp
    {
        if (_loaded.TryGetValue(typeof(TOp), out var k)) return k;
        var acc = _device.Accelerator;
        k = new Loaded(
            acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>>(ArithmeticKernelMethods.SameLengthKernel<TOp>),
            acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, ArrayView<float>>(ArithmeticKernelMethods.ScalarKernel<TOp>),
            acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int, ArrayView<float>>(ArithmeticKernelMethods.BroadcastKernel<TOp>));
        _loaded[typeof(TOp)] = k;
        return k;
    }

    /// <summary>
    /// z = op(a, b) element-wise, where a and b have the same length as z, or one of them has a length m
    /// that divides z's and repeats (broadcast over leading dimensions; m = 1 is a scalar).
    /// </summary>
    public void Apply<TOp>(ArrayView<float> a, ArrayView<float> b, ArrayView<float> z) where TOp : struct, IBinaryOp
    {
        string op = typeof(TOp).Name;
        long n = z.Length;
        var grid = _device.Launch.For(n);
        bool same = a.Length == n && b.Length == n;
        bool bSmall = a.Length == n;
        long m = bSmall ? b.Length : a.Length;
        if (!same && ((bSmall ? a.Length : b.Length) != n || m == 0 || n % m != 0))
            throw new ArgumentException(
                $"{op}: lengths a={a.Length}, b={b.Length}, z={n}: one operand must have z's length and the other a length dividing it.");
        if (_device.RunsOnHost && typeof(TOp) != typeof(DivGradDenominatorOp)) { HostSimd.Binary<TOp>(a, b, z); return; }
        if (same) { Load<TOp>().Same(grid, a, b, z); return; }
        if (m == 1) Load<TOp>().Scalar(grid, a, b, bSmall ? 1 : 0, z);
        else Load<TOp>().Broadcast(grid, a, b, (int)m, bSmall ? 1 : 0, z);
    }

    /// <summary>y = alpha·x + beta; x and y may alias.</summary>
    public void Affine(ArrayView<float> x, float alpha, float beta, ArrayView<float> y)
    {
        Shapes.SameLength("Affine", x, y);
        if (_device.RunsOnHost) { HostSimd.Affine(x, alpha, beta, y); return; }
        _affine(_device.Launch.For(y.Length), x, alpha, beta, y);
    }

    /// <summary>a += weight·(b - a).</summary>
    public void Lerp(ArrayView<float> a, ArrayView<float> b, float weight)
    {
        Shapes.SameLength("Lerp", a, b);
        if (_device.RunsOnHost) { HostSimd.Lerp(a, b, weight); return; }
        _lerp(_device.Launch.For(a.Length), a, b, weight);
    }
}

internal static class ArithmeticOps
{
    public static ArithmeticKernels Arithmetic(this Runtime.Device d) => d.Kernels(static d => new ArithmeticKernels(d));
}
