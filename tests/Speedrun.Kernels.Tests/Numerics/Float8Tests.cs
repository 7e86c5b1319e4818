using Speedrun.Kernels.Numerics;
using Speedrun.Kernels.Ops;
using Speedrun.Tests.Torch;
using TorchSharp;
using static TorchSharp.torch;

namespace Speedrun.Kernels.Tests.Numerics;

/// <summary>
/// The fp8 codecs against two oracles:
/// <list type="bullet">
/// <item>libtorch (TorchSharp-cpu 0.107 = libtorch 2.10). TorchSharp's ScalarType enum has no float8 names, but
/// libtorch accepts its own codes for them (Float8_e5m2 = 23, Float8_e4m3fn = 24) through <c>to_type</c>, and
/// <c>Tensor.bytes</c> reads and writes the raw codes, so casts are compared bit for bit. torch's plain cast does
/// not saturate (OFP8's non-SAT mode); <c>clamp(-max, max)</c> before it gives the SAT mode our kernels use.</item>
/// <item>an independent reference written here from the OCP OFP8 spec (§5.1 encodings, §5.2 conversion): values
/// from the formula (-1)^s·2^(e-bias)·(1 + m/2^M) with doubles, encoding by searching the nearest of those values
/// (ties to the even code), which shares no code with the bit-twiddling encoder under test.</item>
/// </list>
/// </summary>
public class Float8Tests
{
    const ScalarType TorchE5M2 = (ScalarType)23, TorchE4M3 = (ScalarType)24; // c10::ScalarType codes

    public enum Format { E4M3, E5M2 }

    static ScalarType TorchType(Format f) => f == Format.E4M3 ? TorchE4M3 : TorchE5M2;
    static float Max(Format f) => f == Format.E4M3 ? Float8.E4M3Max : Float8.E5M2Max;
    static byte Encode(Format f, float x, bool saturate = true) =>
        f == Format.E4M3 ? Float8.EncodeE4M3(x, saturate) : Float8.EncodeE5M2(x, saturate);
    static float Decode(Format f, byte b) => f == Format.E4M3 ? Float8.DecodeE4M3(b) : Float8.DecodeE5M2(b);

    public static TheoryData<Format> Formats => new() { Format.E4M3, Format.E5M2 };

    // ---- the spec reference ----

    /// <summary>The value of a code by OFP8 §5.1's formula (NaN for NaN encodings, ±inf for E5M2's infinities).</summary>
    static double SpecValue(Format f, int code)
    {
        int expBits = f == Format.E4M3 ? 4 : 5, manBits = 7 - expBits, bias = f == Format.E4M3 ? 7 : 15;
        int sign = code >> 7, e = (code >> manBits) & ((1 << expBits) - 1), m = code & ((1 << manBits) - 1);
        double s = sign == 1 ? -1 : 1;
        if (f == Format.E4M3 && e == 15 && m == 7) return double.NaN;
        if (f == Format.E5M2 && e == 31) return m == 0 ? s * double.PositiveInfinity : double.NaN;
        if (e == 0) return s * Math.Pow(2, 1 - bias) * (m / Math.Pow(2, manBits));
        return s * Math.Pow(2, e - bias) * (1 + m / Math.Pow(2, manBits));
    }

    /// <summary>Nearest finite value (ties to the even code); past the largest one, round as if the exponent went on
    /// (the next value would be max + the top binade's spacing) and then overflow: saturate, or NaN / inf.</summary>
    static byte SpecEncode(Format f, float x, bool saturate)
    {
        int sign = BitConverter.SingleToInt32Bits(x) < 0 ? 0x80 : 0;
        if (float.IsNaN(x)) return (byte)(sign | 0x7F);
        int maxCode = f == Format.E4M3 ? 0x7E : 0x7B;
        byte overflow = (byte)(sign | (saturate ? maxCode : f == Format.E4M3 ? 0x7F : 0x7C));
        double a = Math.Abs((double)x), max = SpecValue(f, maxCode);
        if (double.IsInfinity(a)) return overflow;
        double beyond = max + (max - SpecValue(f, maxCode - 1)); // the value an unbounded exponent would give next
        if (a > max)
        {
            double mid = (max + beyond) / 2;
            bool roundsUp = a > mid || (a == mid && (maxCode & 1) == 1);
            return roundsUp ? overflow : (byte)(sign | maxCode);
        }
        int lo = 0, hi = maxCode; // largest code with value <= a
        while (lo < hi)
        {
            int mid = (lo + hi + 1) / 2;
            if (SpecValue(f, mid) <= a) lo = mid; else hi = mid - 1;
        }
        int code = lo;
        if (code < maxCode)
        {
            double below = SpecValue(f, code), above = SpecValue(f, code + 1);
            if (a - below > above - a || (a - below == above - a && (code & 1) == 1)) code++;
        }
        return (byte)(sign | code);
    }

    // ---- torch ----

    static byte[] TorchCast(float[] values, Format f, bool saturate)
    {
        using var t = torch.tensor(values);
        using var clamped = saturate ? t.clamp(-Max(f), Max(f)) : t.alias();
        using var q = clamped.to_type(TorchType(f));
        return q.bytes.ToArray();
    }

    static float[] TorchDecode(byte[] codes, Format f)
    {
        using var t = torch.empty(codes.Length, TorchType(f));
        t.bytes = codes;
        using var wide = t.to_type(ScalarType.Float32);
        return TensorData.Read<float>(wide);
    }

    [Fact]
    public void TorchFloat8CodesMeanWhatWeThink()
    {
        // Guards the raw ScalarType numbers: a wrong mapping would give other formats' maxima.
        Assert.Equal(448f, TorchDecode([0x7E], Format.E4M3)[0]);
        Assert.Equal(57344f, TorchDecode([0x7B], Format.E5M2)[0]);
        Assert.Equal(float.PositiveInfinity, TorchDecode([0x7C], Format.E5M2)[0]);
    }

    // ---- decode ----

    [Theory, MemberData(nameof(Formats))]
    public void DecodesAll256CodesLikeTorchAndTheSpec(Format f)
    {
        var codes = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        var torchValues = TorchDecode(codes, f);
        for (int c = 0; c < 256; c++)
        {
            float ours = Decode(f, (byte)c);
            double spec = SpecValue(f, c);
            if (double.IsNaN(spec))
            {
                Assert.True(float.IsNaN(ours) && float.IsNaN(torchValues[c]), $"{f} code 0x{c:X2} must decode to NaN");
                Assert.Equal(c >= 0x80, BitConverter.SingleToInt32Bits(ours) < 0); // the code's sign
                continue;
            }
            Assert.True(BitConverter.SingleToInt32Bits(ours) == BitConverter.SingleToInt32Bits(torchValues[c]),
                $"{f} code 0x{c:X2}: ours {ours:R}, torch {torchValues[c]:R}");
            Assert.Equal(spec, (double)ours);
            Assert.Equal(c >= 0x80, BitConverter.SingleToInt32Bits(ours) < 0); // -0 for 0x80
        }
        Assert.Equal(f == Format.E4M3 ? 2 : 6, codes.Count(c => float.IsNaN(Decode(f, c))));
    }

    // ---- encode ----

    /// <summary>Every finite fp8 value and its fp32 neighbours, every midpoint between neighbouring values (the
    /// ties) and its neighbours, the overflow boundary, a dense walk over the fp32 bit patterns from fp32
    /// subnormals to past the range (both signs), and the specials (±0, ±inf, NaNs of both signs).</summary>
    static float[] Sweep(Format f)
    {
        var values = new List<float>();
        void AddWithNeighbours(float v)
        {
            values.Add(v);
            values.Add(MathF.BitIncrement(v));
            values.Add(MathF.BitDecrement(v));
        }
        int maxCode = f == Format.E4M3 ? 0x7E : 0x7B;
        for (int c = 0; c <= maxCode; c++)
        {
            float v = (float)SpecValue(f, c);
            AddWithNeighbours(v);
            double next = c < maxCode ? SpecValue(f, c + 1) : 2 * SpecValue(f, c) - SpecValue(f, c - 1);
            AddWithNeighbours((float)((v + next) / 2)); // exact in fp32: one bit more than fp8
        }
        AddWithNeighbours(2 * Max(f));
        // Bit patterns 0 .. +inf: coarse everywhere, fine across the formats' ranges.
        for (long u = 0; u < 0x7F80_0000L; u += 65_537) values.Add(BitConverter.Int32BitsToSingle((int)u));
        int from = BitConverter.SingleToInt32Bits(f == Format.E4M3 ? 1e-4f : 1e-7f);
        int to = BitConverter.SingleToInt32Bits(4 * Max(f));
        for (long u = from; u < to; u += 131) values.Add(BitConverter.Int32BitsToSingle((int)u));
        values.AddRange([0f, float.Epsilon, 1e-40f, float.MaxValue, float.PositiveInfinity, 1e6f, 3e38f]);
        var both = values.Concat(values.Select(v => -v)).ToList();
        both.AddRange([float.NaN, BitConverter.Int32BitsToSingle(0x7FC0_0000), BitConverter.Int32BitsToSingle(0x7F80_0001),
            BitConverter.Int32BitsToSingle(unchecked((int)0xFF80_0001))]);
        return both.ToArray();
    }

    [Theory, MemberData(nameof(Formats))]
    public void SaturatingEncodeMatchesTorchAfterClampAndTheSpec(Format f)
    {
        var values = Sweep(f);
        var torchCodes = TorchCast(values, f, saturate: true);
        int checkedCount = 0;
        for (int i = 0; i < values.Length; i++)
        {
            byte ours = Encode(f, values[i]);
            if (ours != torchCodes[i])
                Assert.Fail($"{f} saturating, x = {values[i]:R} (0x{BitConverter.SingleToInt32Bits(values[i]):X8}): ours 0x{ours:X2}, torch 0x{torchCodes[i]:X2}");
            byte spec = SpecEncode(f, values[i], saturate: true);
            if (ours != spec) Assert.Fail($"{f} saturating, x = {values[i]:R}: ours 0x{ours:X2}, spec 0x{spec:X2}");
            checkedCount++;
        }
        Assert.True(checkedCount > 1_000_000, $"only {checkedCount} values swept");
    }

    [Theory, MemberData(nameof(Formats))]
    public void NonSaturatingEncodeMatchesTorchsPlainCastAndTheSpec(Format f)
    {
        var values = Sweep(f);
        var torchCodes = TorchCast(values, f, saturate: false);
        for (int i = 0; i < values.Length; i++)
        {
            byte ours = Encode(f, values[i], saturate: false);
            if (ours != torchCodes[i])
                Assert.Fail($"{f} non-saturating, x = {values[i]:R}: ours 0x{ours:X2}, torch 0x{torchCodes[i]:X2}");
            byte spec = SpecEncode(f, values[i], saturate: false);
            if (ours != spec) Assert.Fail($"{f} non-saturating, x = {values[i]:R}: ours 0x{ours:X2}, spec 0x{spec:X2}");
        }
    }

    [Fact]
    public void DocumentedEdgeCases()
    {
        // Saturation (the default): past the max, and infinities, give ±max; NaN keeps its sign.
        Assert.Equal(0x7E, Float8.EncodeE4M3(464f));               // tie between 448 and "480": even code, 448
        Assert.Equal(0x7E, Float8.EncodeE4M3(1e9f));
        Assert.Equal(0xFE, Float8.EncodeE4M3(float.NegativeInfinity));
        Assert.Equal(0x7B, Float8.EncodeE5M2(float.PositiveInfinity));
        Assert.Equal(0x7F, Float8.EncodeE4M3(BitConverter.Int32BitsToSingle(0x7FC0_0000)));
        Assert.Equal(0xFF, Float8.EncodeE5M2(BitConverter.Int32BitsToSingle(unchecked((int)0xFFC0_0000))));
        // Non-saturating: E4M3 overflows to NaN, E5M2 to inf; 61440 is the tie above 57344 and rounds to the even "65536".
        Assert.Equal(0x7F, Float8.EncodeE4M3(470f, saturate: false));
        Assert.Equal(0x7E, Float8.EncodeE4M3(464f, saturate: false));
        Assert.Equal(0x7C, Float8.EncodeE5M2(61440f, saturate: false));
        Assert.Equal(0x7B, Float8.EncodeE5M2(61439.996f, saturate: false));
        // Zeros and underflow keep the sign; half the smallest subnormal is a tie that goes to zero.
        Assert.Equal(0x80, Float8.EncodeE4M3(-0f));
        Assert.Equal(0x80, Float8.EncodeE4M3(-1e-30f));
        Assert.Equal(0x00, Float8.EncodeE4M3(MathF.Pow(2, -10)));
        Assert.Equal(0x01, Float8.EncodeE4M3(MathF.BitIncrement(MathF.Pow(2, -10))));
        Assert.Equal(0x01, Float8.EncodeE5M2(MathF.Pow(2, -16)));
        Assert.Equal(0x08, Float8.EncodeE4M3(MathF.Pow(2, -6)));   // smallest normal
    }

    // ---- the cast kernels (host path on the CPU device, ILGPU kernels on the warp-row device) ----

    static readonly Lazy<Runtime.Device> KernelDevice = new(Runtime.Device.CreateCpuWithWarpRows);

    public static TheoryData<bool, int> Devices => new() { { false, 1 }, { false, 1001 }, { true, 1 }, { true, 1001 } };

    [Theory, MemberData(nameof(Devices))]
    public void CastKernelsMatchTheScalarCodec(bool kernels, int n)
    {
        var device = kernels ? KernelDevice.Value : OpCheck.Cpu;
        var rng = new Random(n);
        var x = Enumerable.Range(0, n).Select(i => (float)((rng.NextDouble() * 2 - 1) * Math.Pow(2, rng.Next(-20, 12)))).ToArray();
        if (n > 3) { x[0] = float.NaN; x[1] = float.PositiveInfinity; x[2] = -0f; }
        using var src = device.Accelerator.Allocate1D(x);
        using var q = device.Accelerator.Allocate1D<byte>(n);
        using var back = device.Accelerator.Allocate1D<float>(n);
        foreach (var (format, kernelFormat) in new[] { (Format.E4M3, Float8Format.E4M3), (Format.E5M2, Float8Format.E5M2) })
        foreach (float scale in new[] { 1f, 0.75f, 4096f })
        {
            device.Float8Casts().Quantize(src.View, scale, q.View, kernelFormat);
            device.Synchronize();
            var codes = q.GetAsArray1D();
            for (int i = 0; i < n; i++)
                Assert.Equal(Encode(format, x[i] * scale), codes[i]);
            device.Float8Casts().Dequantize(q.View, kernelFormat, 1f / scale, back.View);
            device.Synchronize();
            var values = back.GetAsArray1D();
            for (int i = 0; i < n; i++)
            {
                float expected = Decode(format, codes[i]) * (1f / scale);
                Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(values[i]));
            }
        }
    }

    /// <summary>The SIMD span encoders (the CPU device's casts) against the scalar codec, which the tests above tie to
    /// torch and the spec: every 251st fp32 bit pattern (17M values over every exponent, both signs, NaNs and
    /// infinities), and every code's neighbourhood (its value, the midpoints to the next code, one ulp either side
    /// of them), at scales 1 and 0.75. The span's last few elements go through the scalar tail, so the sweep is
    /// one span, a multiple of any vector width.</summary>
    [Theory, MemberData(nameof(Formats))]
    public void SpanEncodersMatchTheScalarCodecBitForBit(Format f)
    {
        var values = new List<float>();
        for (long bits = 0; bits <= uint.MaxValue; bits += 251) values.Add(BitConverter.UInt32BitsToSingle((uint)bits));
        for (int code = 0; code < 255; code++)
        {
            float here = Decode(f, (byte)code), next = Decode(f, (byte)(code + 1));
            if (float.IsNaN(here) || float.IsNaN(next) || float.IsInfinity(next)) continue;
            float mid = (float)(((double)here + next) / 2);
            foreach (var v in new[] { here, mid, MathF.BitDecrement(mid), MathF.BitIncrement(mid) })
            {
                values.Add(v);
                values.Add(-v);
            }
        }
        while (values.Count % 64 != 0) values.Add(1f);
        var x = values.ToArray();
        var codes = new byte[x.Length];
        foreach (float scale in new[] { 1f, 0.75f })
        {
            if (f == Format.E4M3) Float8Spans.EncodeE4M3(x, scale, codes);
            else Float8Spans.EncodeE5M2(x, scale, codes);
            for (int i = 0; i < x.Length; i++)
                if (codes[i] != Encode(f, x[i] * scale))
                    Assert.Fail($"{f} at scale {scale}: {x[i]:R} (0x{BitConverter.SingleToUInt32Bits(x[i]):X8}) encoded " +
                                $"0x{codes[i]:X2}, the scalar codec 0x{Encode(f, x[i] * scale):X2}.");
        }
    }

    [Fact]
    public void CastKernelsRejectMismatchedLengths()
    {
        using var x = OpCheck.Cpu.Accelerator.Allocate1D<float>(4);
        using var q = OpCheck.Cpu.Accelerator.Allocate1D<byte>(5);
        Assert.Throws<ArgumentException>(() => OpCheck.Cpu.Float8Casts().Quantize(x.View, 1f, q.View, Float8Format.E4M3));
        Assert.Throws<ArgumentException>(() => OpCheck.Cpu.Float8Casts().Dequantize(q.View, Float8Format.E5M2, 1f, x.View));
    }
}
