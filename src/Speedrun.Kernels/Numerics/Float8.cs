using ILGPU;

namespace Speedrun.Kernels.Numerics;

/// <summary>
/// The two 8-bit floating-point formats of the OCP OFP8 specification (Revision 1.0, 2023-06-20), stored as raw
/// bytes (ILGPU 1.5.3 has no fp8 type). PyTorch calls them <c>float8_e4m3fn</c> and <c>float8_e5m2</c>.
/// <list type="bullet">
/// <item>E4M3 ("fn": finite, with NaN): 1 sign, 4 exponent bits (bias 7), 3 mantissa bits. No infinities;
/// S.1111.111 is NaN (0x7F, 0xFF), so S.1111.000-110 are normal numbers and the largest is 448 = 1.75·2^8.
/// Smallest normal 2^-6, smallest subnormal 2^-9.</item>
/// <item>E5M2 (IEEE-754-like): 1 sign, 5 exponent bits (bias 15), 2 mantissa bits. S.11111.00 is ±infinity
/// and S.11111.01-11 are NaNs; the largest finite value is 57344 = 1.75·2^15. Smallest normal 2^-14,
/// smallest subnormal 2^-16.</item>
/// </list>
/// Encoding follows OFP8 §5.2 ("Conversion Behavior") and §5.2.1 ("Conversion Arithmetic"): round to nearest,
/// ties to even, with subnormals; overflow per the saturation mode:
/// <list type="bullet">
/// <item>saturating (the default, OFP8's SAT mode): a finite value whose rounded magnitude exceeds the largest
/// finite value, and ±infinity, become ±max (±448 or ±57344). This equals
/// <c>x.clamp(-max, max).to(float8)</c> in PyTorch, bit for bit.</item>
/// <item>non-saturating (OFP8's non-SAT mode; what PyTorch's plain <c>.to(float8)</c> does): overflow and
/// ±infinity become NaN in E4M3 (it has no infinity) and ±infinity in E5M2.</item>
/// </list>
/// NaN always encodes as NaN with the input's sign: 0x7F or 0xFF (the pattern PyTorch writes) in both formats.
/// -0 stays -0 (0x80), and so does a negative value that rounds to zero. fp32 subnormals are far below half the
/// smallest fp8 subnormal and encode as ±0. Decoding is exact (every fp8 value is an fp32 value); E4M3's NaN and
/// E5M2's NaNs decode to a quiet fp32 NaN with the code's sign.
/// Pure integer arithmetic, no managed calls or exceptions: usable on the host and inside ILGPU kernels.
/// </summary>
public static class Float8
{
    /// <summary>The largest finite E4M3 value, 448.</summary>
    public const float E4M3Max = 448f;
    /// <summary>The largest finite E5M2 value, 57344.</summary>
    public const float E5M2Max = 57344f;

    /// <summary>E4M3's NaN (positive sign); 0xFF is the negative one.</summary>
    public const byte E4M3NaN = 0x7F;
    /// <summary>E5M2's +infinity; 0xFC is -infinity.</summary>
    public const byte E5M2Infinity = 0x7C;
    /// <summary>The NaN code the encoder writes for E5M2 (positive sign); 0x7D-0x7F and 0xFD-0xFF are all NaNs.</summary>
    public const byte E5M2NaN = 0x7F;

    /// <summary>fp32 → E4M3 bits: round to nearest even; overflow and ±inf saturate to ±448 unless
    /// <paramref name="saturate"/> is false (then they give NaN); NaN gives NaN.</summary>
    public static byte EncodeE4M3(float value, bool saturate = true) =>
        Encode(value, mantissaBits: 3, minExponent: -6, maxCode: 0x7E, overflowCode: E4M3NaN, saturate);

    /// <summary>fp32 → E5M2 bits: round to nearest even; overflow and ±inf saturate to ±57344 unless
    /// <paramref name="saturate"/> is false (then they give ±inf); NaN gives NaN.</summary>
    public static byte EncodeE5M2(float value, bool saturate = true) =>
        Encode(value, mantissaBits: 2, minExponent: -14, maxCode: 0x7B, overflowCode: E5M2Infinity, saturate);

    /// <summary>E4M3 bits → the exact fp32 value (0x7F/0xFF → NaN).</summary>
    public static float DecodeE4M3(byte bits)
    {
        uint sign = (uint)(bits & 0x80) << 24;
        int exponent = (bits >> 3) & 0xF, mantissa = bits & 0x7;
        if (exponent == 0xF && mantissa == 0x7) return Interop.IntAsFloat(sign | 0x7FC0_0000u);
        // Subnormal: mantissa·2^-9 (exact); normal: exponent field re-biased from 7 to 127.
        if (exponent == 0) return Interop.IntAsFloat(sign | Interop.FloatAsInt(mantissa * (1f / 512f)));
        return Interop.IntAsFloat(sign | (uint)(exponent + 120) << 23 | (uint)mantissa << 20);
    }

    /// <summary>E5M2 bits → the exact fp32 value (0x7C/0xFC → ±inf, 0x7D-0x7F/0xFD-0xFF → NaN).</summary>
    public static float DecodeE5M2(byte bits)
    {
        uint sign = (uint)(bits & 0x80) << 24;
        int exponent = (bits >> 2) & 0x1F, mantissa = bits & 0x3;
        if (exponent == 0x1F) return Interop.IntAsFloat(sign | (mantissa == 0 ? 0x7F80_0000u : 0x7FC0_0000u));
        // Subnormal: mantissa·2^-16 (exact); normal: exponent field re-biased from 15 to 127.
        if (exponent == 0) return Interop.IntAsFloat(sign | Interop.FloatAsInt(mantissa * (1f / 65536f)));
        return Interop.IntAsFloat(sign | (uint)(exponent + 112) << 23 | (uint)mantissa << 21);
    }

    /// <summary>
    /// One encoder for both formats. For |value| = M·2^(e-23) (M the fp32 significand with its hidden bit), the
    /// fp8 spacing at that magnitude is 2^(max(e, minExponent) - mantissaBits), so the value holds M / 2^shift
    /// spacings; that quotient is rounded to the nearest integer r (ties to even). Then
    /// code = ((max(e, minExponent) - minExponent) &lt;&lt; mantissaBits) + r covers subnormals (r &lt; 2^m),
    /// normals (the hidden bit lands in the exponent field) and a rounding carry into the next binade alike.
    /// </summary>
    static byte Encode(float value, int mantissaBits, int minExponent, int maxCode, int overflowCode, bool saturate)
    {
        uint u = Interop.FloatAsInt(value);
        int sign = (int)(u >> 24) & 0x80;
        uint magnitude = u & 0x7FFF_FFFFu;
        if (magnitude > 0x7F80_0000u) return (byte)(sign | 0x7F); // NaN
        int biased = (int)(magnitude >> 23);
        int code;
        if (biased == 0xFF) code = maxCode + 1; // ±inf: overflow
        else if (biased == 0) code = 0;         // ±0 and fp32 subnormals (< 2^-126) round to ±0
        else
        {
            int exponent = biased - 127;
            if (exponent > 16) code = maxCode + 1; // beyond both formats' range; keeps the shifts below small
            else
            {
                uint significand = (magnitude & 0x7F_FFFFu) | 0x80_0000u;
                int target = exponent < minExponent ? minExponent : exponent;
                int shift = 23 - mantissaBits + (target - exponent);
                if (shift > 24) code = 0; // below half the smallest subnormal (significand < 2^24 ≤ half of 2^shift)
                else
                {
                    uint rounded = significand >> shift;
                    uint rest = significand & ((1u << shift) - 1u), half = 1u << (shift - 1);
                    if (rest > half || (rest == half && (rounded & 1u) != 0)) rounded++;
                    code = ((target - minExponent) << mantissaBits) + (int)rounded;
                }
            }
        }
        if (code > maxCode) code = saturate ? maxCode : overflowCode;
        return (byte)(sign | code);
    }
}
