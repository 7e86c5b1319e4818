using System.Numerics;

namespace Speedrun.Kernels.Ops;

// KernelMath's functions (KernelMath.cs), SIMD-wide, for the CPU device's host paths (HostSimd.cs).
//
// Each one is the scalar function's sequence of +, -, *, /, floor and bit operations applied lane by lane, with
// its branches computed both ways and blended by the branch's own comparison, so every lane gets the bits the
// scalar function gives. .NET never fuses a vector multiply and add into an FMA on its own, so no rounding step
// disappears. HostSimdTests checks the bits against the kernels over a dense grid.

internal static class HostVectorMath
{
    const float Log2E = 1.44269504f;
    const float LnTwoHigh = 0.693145752f;
    const float LnTwoLow = 1.42860677e-06f;
    const double TwoOverSqrtPi = 1.1283791670955126;

    /// <summary>KernelMath.Exp, lane by lane.</summary>
    public static Vector<float> Exp(Vector<float> x)
    {
        var k = Vector.Floor(x * new Vector<float>(Log2E) + new Vector<float>(0.5f));
        var r = (x - k * new Vector<float>(LnTwoHigh)) - k * new Vector<float>(LnTwoLow);
        var p = new Vector<float>(1f / 5040f);
        p = p * r + new Vector<float>(1f / 720f);
        p = p * r + new Vector<float>(1f / 120f);
        p = p * r + new Vector<float>(1f / 24f);
        p = p * r + new Vector<float>(1f / 6f);
        p = p * r + new Vector<float>(0.5f);
        p = p * r + Vector<float>.One;
        p = p * r + Vector<float>.One;
        var exponent = Vector.ConvertToInt32(k);
        var half = Vector.ShiftRightArithmetic(exponent, 1);
        var result = p * PowerOfTwo(half) * PowerOfTwo(exponent - half);
        // The scalar function's early returns, in its order: below -104 first, then above 88.8.
        result = Vector.ConditionalSelect(Vector.GreaterThan(x, new Vector<float>(88.8f)), new Vector<float>(float.PositiveInfinity), result);
        return Vector.ConditionalSelect(Vector.LessThan(x, new Vector<float>(-104f)), Vector<float>.Zero, result);
    }

    /// <summary>2^n from its bits, as KernelMath's PowerOfTwo (lanes outside [-126, 127] are never selected).</summary>
    static Vector<float> PowerOfTwo(Vector<int> n) =>
        Vector.AsVectorSingle(Vector.ShiftLeft(n + new Vector<int>(127), 23));

    /// <summary>-x by flipping the sign bit, as the scalar <c>-x</c> compiles (0 - x would turn -0 into +0).</summary>
    static Vector<float> Negate(Vector<float> x) => Vector.AsVectorSingle(Vector.AsVectorUInt32(x) ^ new Vector<uint>(0x8000_0000u));

    /// <summary>KernelMath.Tanh, lane by lane.</summary>
    public static Vector<float> Tanh(Vector<float> x)
    {
        var a = Vector.Abs(x);
        var x2 = x * x;
        var series = x * (Vector<float>.One + x2 * (new Vector<float>(-1f / 3f) + x2 * (new Vector<float>(2f / 15f) +
            x2 * (new Vector<float>(-17f / 315f) + x2 * new Vector<float>(62f / 2835f)))));
        var e = Exp(new Vector<float>(-2f) * a);
        var t = (Vector<float>.One - e) / (Vector<float>.One + e);
        t = Vector.ConditionalSelect(Vector.LessThan(x, Vector<float>.Zero), Negate(t), t);
        return Vector.ConditionalSelect(Vector.LessThan(a, new Vector<float>(0.25f)), series, t);
    }

    /// <summary>KernelMath.Sigmoid, lane by lane.</summary>
    public static Vector<float> Sigmoid(Vector<float> x)
    {
        var e = Exp(Negate(Vector.Abs(x)));
        return Vector.ConditionalSelect(Vector.GreaterThanOrEqual(x, Vector<float>.Zero), Vector<float>.One, e) / (Vector<float>.One + e);
    }

    /// <summary>KernelMath.ExpNegScaledSquare, lane by lane.</summary>
    public static Vector<float> ExpNegScaledSquare(Vector<float> a, float scale)
    {
        var head = Vector.AsVectorSingle(Vector.AsVectorUInt32(a) & new Vector<uint>(0xFFFFF000u));
        var minusScale = new Vector<float>(-scale);
        return Exp(minusScale * (head * head)) * Exp(minusScale * ((a - head) * (a + head)));
    }

    /// <summary>KernelMath.Erf, lane by lane.</summary>
    public static Vector<float> Erf(Vector<float> z)
    {
        var a = Vector.Abs(z);
        var v = Vector<float>.One - ErfcTail(a);
        var tail = Vector.ConditionalSelect(Vector.LessThan(z, Vector<float>.Zero), -v, v);
        return Vector.ConditionalSelect(Vector.LessThan(a, new Vector<float>(0.5f)), Series(z), tail);
    }

    /// <summary>KernelMath.Erfc, lane by lane.</summary>
    public static Vector<float> Erfc(Vector<float> z)
    {
        var a = Vector.Abs(z);
        var tail = ErfcTail(a);
        var far = Vector.ConditionalSelect(Vector.LessThan(z, Vector<float>.Zero), new Vector<float>(2f) - tail, tail);
        return Vector.ConditionalSelect(Vector.LessThan(a, new Vector<float>(0.5f)), Vector<float>.One - Series(z), far);
    }

    /// <summary>KernelMath.Erf's Maclaurin branch (|z| &lt; 0.5).</summary>
    static Vector<float> Series(Vector<float> z)
    {
        var s = z * z;
        var p = new Vector<float>((float)(TwoOverSqrtPi / (720 * 13)));
        p = p * s + new Vector<float>((float)(-TwoOverSqrtPi / (120 * 11)));
        p = p * s + new Vector<float>((float)(TwoOverSqrtPi / (24 * 9)));
        p = p * s + new Vector<float>((float)(-TwoOverSqrtPi / (6 * 7)));
        p = p * s + new Vector<float>((float)(TwoOverSqrtPi / (2 * 5)));
        p = p * s + new Vector<float>((float)(-TwoOverSqrtPi / 3));
        p = p * s + new Vector<float>((float)TwoOverSqrtPi);
        return z * p;
    }

    /// <summary>KernelMath's ErfcTail (a ≥ 0.5), lane by lane.</summary>
    static Vector<float> ErfcTail(Vector<float> a)
    {
        var t = Vector<float>.One / (Vector<float>.One + a);
        var q = new Vector<float>(-0.939824045f);
        q = q * t + new Vector<float>(3.2868669f);
        q = q * t - new Vector<float>(4.17566347f);
        q = q * t + new Vector<float>(1.41829145f);
        q = q * t + new Vector<float>(1.75532627f);
        q = q * t - new Vector<float>(1.71218777f);
        q = q * t - new Vector<float>(0.00509029208f);
        q = q * t + new Vector<float>(0.236443579f);
        q = q * t + new Vector<float>(0.568708301f);
        q = q * t + new Vector<float>(0.563942611f);
        q = q * t + new Vector<float>(5.70795783e-06f);
        var value = q * ExpNegScaledSquare(a, 1f);
        return Vector.ConditionalSelect(Vector.GreaterThan(a, new Vector<float>(10f)), Vector<float>.Zero, value);
    }
}
