using System.Numerics;
using ILGPU;
using ILGPU.Algorithms;

namespace Speedrun.Kernels.Ops;

/// <summary>
/// Float functions for kernels, written only with +, -, *, /, comparisons and bit operations, so the
/// CPU accelerator (plain .NET float arithmetic) and CUDA (IEEE add/mul/div/sqrt; ptxas may fuse a
/// multiply and an add, which changes a result by at most an ulp or so) compute nearly the same bits.
/// XMath.Exp would be MathF.Exp on the CPU but ex2.approx on CUDA, whose error grows with |x|
/// (the argument x·log2(e) is rounded first), and ILGPU 1.5.3 has no erf and no fp32 fma intrinsic.
///
/// Largest errors measured by <c>KernelMathTests</c> against float64 libtorch on 200,001-point grids
/// (run on the host, which computes what the CPU accelerator computes): Exp 1.2 ulp on [-103, 88.7],
/// Erf 2.4 ulp on [-6, 6], Erfc 4.9 ulp on [-1, 10] (below -1 it is 2 - erfc(|z|), right to an ulp of 2).
/// </summary>
public static class KernelMath
{
    const float Log2E = 1.44269504f;
    // ln 2 split in two: LnTwoHigh has 15 significant bits, so k·LnTwoHigh is exact for |k| ≤ 256.
    const float LnTwoHigh = 0.693145752f;   // 0x3F317200
    const float LnTwoLow = 1.42860677e-06f; // ln 2 - LnTwoHigh, rounded
    const double TwoOverSqrtPi = 1.1283791670955126;

    /// <summary>
    /// e^x to about an ulp. x = k·ln2 + r with k = round(x·log2 e) and |r| ≤ ln2/2 (Cody-Waite:
    /// r = x - k·ln2 in two exact-ish steps); e^r by its Taylor series to r^7 (remainder below
    /// 2^-27 relative); then the exponent k is added in two halves, so results near the overflow
    /// threshold and subnormal results come out right.
    /// </summary>
    public static float Exp(float x)
    {
        if (x < -104f) return 0f;                     // below half the smallest subnormal
        if (x > 88.8f) return float.PositiveInfinity; // above float.MaxValue
        // Nearest integer (ties up). XMath.Floor is one cvt.rmi on CUDA; XMath.RoundToEven is ~25 integer
        // instructions there. NaN stays NaN through r and p below.
        float k = XMath.Floor(x * Log2E + 0.5f);
        float r = (x - k * LnTwoHigh) - k * LnTwoLow;
        float p = 1f / 5040f;
        p = p * r + 1f / 720f;
        p = p * r + 1f / 120f;
        p = p * r + 1f / 24f;
        p = p * r + 1f / 6f;
        p = p * r + 0.5f;
        p = p * r + 1f;
        p = p * r + 1f;
        int exponent = (int)k;                        // in [-150, 128]
        int half = exponent >> 1;
        return p * PowerOfTwo(half) * PowerOfTwo(exponent - half);
    }

    /// <summary>2^n for n in [-126, 127], built from its bits.</summary>
    static float PowerOfTwo(int n) => Interop.IntAsFloat((uint)(n + 127) << 23);

    /// <summary>
    /// e^(-scale·a²) for scale a power of two (1 or 1/2). Rounding a² first would cost up to
    /// a²·2^-24 relative error in the result (about 16 ulps at a = 4), so a is split into a head with
    /// 12 significant bits, whose square is exact, and a small remainder:
    /// a² = head² + (a - head)(a + head).
    /// </summary>
    public static float ExpNegScaledSquare(float a, float scale)
    {
        float head = Interop.IntAsFloat(Interop.FloatAsInt(a) & 0xFFFFF000u);
        return Exp(-scale * (head * head)) * Exp(-scale * ((a - head) * (a + head)));
    }

    /// <summary>
    /// erf(z) to ≤ 2.4 ulp. |z| &lt; 0.5: the Maclaurin series (Abramowitz &amp; Stegun 7.1.5)
    /// 2/√π · Σ (-1)^n z^(2n+1) / (n! (2n+1)) to n = 6 (the first omitted term is below 2^-30);
    /// otherwise ±(1 - erfc(|z|)) from <see cref="ErfcTail"/>.
    /// </summary>
    public static float Erf(float z)
    {
        float a = XMath.Abs(z);
        if (a < 0.5f)
        {
            float s = z * z;
            float p = (float)(TwoOverSqrtPi / (720 * 13));       // n = 6: 1 / (6! · 13)
            p = p * s + (float)(-TwoOverSqrtPi / (120 * 11));     // n = 5
            p = p * s + (float)(TwoOverSqrtPi / (24 * 9));        // n = 4
            p = p * s + (float)(-TwoOverSqrtPi / (6 * 7));        // n = 3
            p = p * s + (float)(TwoOverSqrtPi / (2 * 5));         // n = 2
            p = p * s + (float)(-TwoOverSqrtPi / 3);              // n = 1
            p = p * s + (float)TwoOverSqrtPi;                     // n = 0
            return z * p;
        }
        float v = 1f - ErfcTail(a);
        return z < 0f ? -v : v;
    }

    /// <summary>erfc(z) = 1 - erf(z), accurate in relative terms for large positive z too (≤ 4.9 ulp).</summary>
    public static float Erfc(float z)
    {
        float a = XMath.Abs(z);
        if (a < 0.5f) return 1f - Erf(z);
        float tail = ErfcTail(a);
        return z < 0f ? 2f - tail : tail;
    }

    /// <summary>
    /// erfc(a) for a ≥ 0.5, in the form of Abramowitz &amp; Stegun 7.1.26 (after Hastings, 1955):
    /// erfc(a) = e^(-a²) · Q(t), t = 1/(1 + a). Q is a degree-10 polynomial in t whose coefficients
    /// we fitted for this project by Chebyshev interpolation of erfc(a)·e^(a²) on a in [0.5, 10]
    /// (mpmath.chebyfit at 40 digits; relative fit error 2.5e-9, rounding to fp32 dominates).
    /// Beyond a = 10 erfc is below the smallest float (1.4e-45) and 0 is returned.
    /// </summary>
    static float ErfcTail(float a)
    {
        if (a > 10f) return 0f;
        float t = 1f / (1f + a);
        float q = -0.939824045f;
        q = q * t + 3.2868669f;
        q = q * t - 4.17566347f;
        q = q * t + 1.41829145f;
        q = q * t + 1.75532627f;
        q = q * t - 1.71218777f;
        q = q * t - 0.00509029208f;
        q = q * t + 0.236443579f;
        q = q * t + 0.568708301f;
        q = q * t + 0.563942611f;
        q = q * t + 5.70795783e-06f;
        return q * ExpNegScaledSquare(a, 1f);
    }

    /// <summary>
    /// tanh(x) to a few ulps with only <see cref="Exp(float)"/>: an odd Taylor series below |x| = 0.25 (the first
    /// omitted term is below 1e-8 relative), else (1 - e)/(1 + e) with e = e^(-2|x|), which has no
    /// cancellation there. XMath.Tanh would be tanh.approx on CUDA (about 2^-11 relative error).
    /// </summary>
    public static float Tanh(float x)
    {
        float a = XMath.Abs(x);
        if (a < 0.25f)
        {
            float x2 = x * x;
            return x * (1f + x2 * (-1f / 3f + x2 * (2f / 15f + x2 * (-17f / 315f + x2 * (62f / 2835f)))));
        }
        float e = Exp(-2f * a);
        float t = (1f - e) / (1f + e);
        return x < 0f ? -t : t;
    }

    /// <summary>1/(1 + e^-x), evaluated with e^(-|x|) ≤ 1 so nothing overflows.</summary>
    public static float Sigmoid(float x)
    {
        float e = Exp(-XMath.Abs(x));
        return (x >= 0f ? 1f : e) / (1f + e);
    }

    // ---- The same functions a SIMD vector at a time (HostVectorMath), for the CPU device's host path: every lane
    // gets the scalar function's bits. For an op's IVectorUnaryOp methods; not for kernels.

    /// <summary><see cref="Exp(float)"/> lane by lane.</summary>
    public static Vector<float> Exp(Vector<float> x) => HostVectorMath.Exp(x);

    /// <summary><see cref="Tanh(float)"/> lane by lane.</summary>
    public static Vector<float> Tanh(Vector<float> x) => HostVectorMath.Tanh(x);

    /// <summary><see cref="Sigmoid(float)"/> lane by lane.</summary>
    public static Vector<float> Sigmoid(Vector<float> x) => HostVectorMath.Sigmoid(x);
}
