using System.Numerics;
using System.Runtime.InteropServices;

namespace Speedrun.Kernels.Numerics;

/// <summary>
/// <see cref="Float8"/>'s saturating encoders and its decoders over whole host spans, bit-for-bit the scalar ones,
/// for the CPU device's fp8 casts and the CPU <c>_scaled_mm</c>. Encoding is SIMD-wide, with the scalar encoder's
/// arithmetic split in two cases:
/// <list type="bullet">
/// <item>|v| ≥ 2^minExponent (normal in fp8): rounding the fp32 bits to M mantissa bits, to nearest even, is the
/// integer add-and-shift bf16 uses, with shift 23 − M; the rounded bits are then (biased exponent, mantissa), and
/// re-biasing from 127 to the fp8 bias is one subtraction (a carry into the next binade comes out right).</item>
/// <item>|v| &lt; 2^minExponent (fp8 subnormal or zero): the code is |v|·2^(M − minExponent) rounded to an integer,
/// to nearest even; that product is exact (a power of two) and below 2^M + 1, and adding 2^23 in fp32 rounds it
/// exactly so.</item>
/// </list>
/// Codes past the largest finite one (and ±inf) saturate; NaN gives 0x7F with the sign.
/// Decoding is a 256-entry table of the scalar decoder's values.
/// </summary>
internal static class Float8Spans
{
    static readonly float[] E4M3Values = Table(Float8.DecodeE4M3), E5M2Values = Table(Float8.DecodeE5M2);

    static float[] Table(Func<byte, float> decode) => Enumerable.Range(0, 256).Select(b => decode((byte)b)).ToArray();

    /// <summary>y = e4m3(x·scale), saturating (Float8.EncodeE4M3 element by element).</summary>
    public static void EncodeE4M3(ReadOnlySpan<float> x, float scale, Span<byte> y) =>
        Encode(x, scale, y, mantissaBits: 3, minExponent: -6, maxCode: 0x7E, static v => Float8.EncodeE4M3(v));

    /// <summary>y = e5m2(x·scale), saturating (Float8.EncodeE5M2 element by element).</summary>
    public static void EncodeE5M2(ReadOnlySpan<float> x, float scale, Span<byte> y) =>
        Encode(x, scale, y, mantissaBits: 2, minExponent: -14, maxCode: 0x7B, static v => Float8.EncodeE5M2(v));

    /// <summary>x = decode(y)·scale; with scale 1 the exact values.</summary>
    public static void DecodeE4M3(ReadOnlySpan<byte> y, float scale, Span<float> x) => Decode(E4M3Values, y, scale, x);

    /// <summary>x = decode(y)·scale; with scale 1 the exact values.</summary>
    public static void DecodeE5M2(ReadOnlySpan<byte> y, float scale, Span<float> x) => Decode(E5M2Values, y, scale, x);

    static void Decode(float[] table, ReadOnlySpan<byte> y, float scale, Span<float> x)
    {
        if (x.Length != y.Length) throw new ArgumentException($"Float8 decode: {y.Length} codes into {x.Length} floats.");
        if (scale == 1f) for (int i = 0; i < x.Length; i++) x[i] = table[y[i]];
        else for (int i = 0; i < x.Length; i++) x[i] = table[y[i]] * scale;
    }

    static void Encode(ReadOnlySpan<float> x, float scale, Span<byte> y, int mantissaBits, int minExponent, int maxCode,
        Func<float, byte> scalar)
    {
        if (x.Length != y.Length) throw new ArgumentException($"Float8 encode: {x.Length} floats into {y.Length} codes.");
        var lanes = new Lanes(scale, mantissaBits, minExponent, maxCode);
        int w = Vector<uint>.Count, i = 0;
        var ux = MemoryMarshal.Cast<float, uint>(x);
        for (; i <= x.Length - 4 * w; i += 4 * w)
        {
            var low = Vector.Narrow(lanes.Codes(ux.Slice(i, w)), lanes.Codes(ux.Slice(i + w, w)));
            var high = Vector.Narrow(lanes.Codes(ux.Slice(i + 2 * w, w)), lanes.Codes(ux.Slice(i + 3 * w, w)));
            Vector.Narrow(low, high).CopyTo(y.Slice(i, 4 * w));
        }
        for (; i < x.Length; i++) y[i] = scalar(x[i] * scale);
    }

    /// <summary>The encoder's constants as vectors, and one vector of codes (0-255 in each uint lane).</summary>
    readonly struct Lanes(float scale, int mantissaBits, int minExponent, int maxCode)
    {
        readonly Vector<float> _scale = new(scale);
        readonly int _shift = 23 - mantissaBits;
        readonly Vector<uint> _roundBias = new((1u << (22 - mantissaBits)) - 1u);
        readonly Vector<uint> _rebias = new((uint)(127 + minExponent - 1) << mantissaBits);
        readonly Vector<uint> _smallestNormal = new((uint)(127 + minExponent) << 23);
        readonly Vector<float> _toSubnormalUnits = new(MathF.ScaleB(1f, mantissaBits - minExponent));
        readonly Vector<float> _twoTo23 = new(8388608f);
        readonly Vector<uint> _maxCode = new((uint)maxCode);

        public Vector<uint> Codes(ReadOnlySpan<uint> bits)
        {
            var u = Vector.AsVectorUInt32(Vector.AsVectorSingle(new Vector<uint>(bits)) * _scale);
            var sign = (u >> 24) & new Vector<uint>(0x80u);
            var magnitude = u & new Vector<uint>(0x7FFF_FFFFu);
            var normal = ((magnitude + _roundBias + ((magnitude >> _shift) & Vector<uint>.One)) >> _shift) - _rebias;
            var subnormal = Vector.AsVectorUInt32(Vector.AsVectorSingle(magnitude) * _toSubnormalUnits + _twoTo23) -
                            Vector.AsVectorUInt32(_twoTo23);
            var code = Vector.ConditionalSelect(Vector.GreaterThanOrEqual(magnitude, _smallestNormal), normal, subnormal);
            code = Vector.Min(code, _maxCode);
            var nan = Vector.GreaterThan(magnitude, new Vector<uint>(0x7F80_0000u));
            return Vector.ConditionalSelect(nan, new Vector<uint>(0x7Fu), code) | sign;
        }
    }
}
