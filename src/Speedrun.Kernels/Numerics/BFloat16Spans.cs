using System.Numerics;
using System.Runtime.InteropServices;

namespace Speedrun.Kernels.Numerics;

/// <summary>
/// <see cref="BFloat16"/>'s conversions over whole host spans, SIMD-wide and bit-for-bit the scalar ones:
/// widening is a 16-bit shift; rounding is to nearest even, a NaN kept quiet. One home for the host's
/// element-wise path (HostSimd) and the CPU GEMM's bf16 operands.
/// </summary>
internal static class BFloat16Spans
{
    /// <summary>BFloat16.Round lane by lane, as float bits: round to nearest even in the top 16 bits, the low 16
    /// zero; a NaN keeps its top bits and is made quiet.</summary>
    public static Vector<uint> RoundBits(Vector<uint> u)
    {
        var rounded = (u + new Vector<uint>(0x7FFFu) + ((u >> 16) & Vector<uint>.One)) & new Vector<uint>(0xFFFF_0000u);
        var nan = Vector.GreaterThan(u & new Vector<uint>(0x7FFF_FFFFu), new Vector<uint>(0x7F80_0000u));
        return Vector.ConditionalSelect(nan, (u & new Vector<uint>(0xFFFF_0000u)) | new Vector<uint>(0x0040_0000u), rounded);
    }

    /// <summary>y = x rounded to bf16 and widened back to fp32.</summary>
    public static void RoundAsFloat(ReadOnlySpan<float> x, Span<float> y)
    {
        var ux = MemoryMarshal.Cast<float, uint>(x);
        var uy = MemoryMarshal.Cast<float, uint>(y);
        int i = 0;
        for (int w = Vector<uint>.Count; i <= ux.Length - w; i += w) RoundBits(new Vector<uint>(ux.Slice(i, w))).CopyTo(uy.Slice(i, w));
        for (; i < ux.Length; i++) y[i] = BFloat16.Widen(BFloat16.Round(x[i]));
    }

    /// <summary>fp32 → bf16, round to nearest even.</summary>
    public static void Round(ReadOnlySpan<float> x, Span<BFloat16> y)
    {
        var ux = MemoryMarshal.Cast<float, uint>(x);
        var uy = MemoryMarshal.Cast<BFloat16, ushort>(y);
        int i = 0, w = Vector<uint>.Count;
        for (; i <= uy.Length - 2 * w; i += 2 * w)
            Vector.Narrow(RoundBits(new Vector<uint>(ux.Slice(i, w))) >> 16, RoundBits(new Vector<uint>(ux.Slice(i + w, w))) >> 16)
                .CopyTo(uy.Slice(i, 2 * w));
        for (; i < uy.Length; i++) uy[i] = BFloat16.Round(BitConverter.UInt32BitsToSingle(ux[i]));
    }

    /// <summary>bf16 → fp32 (exact).</summary>
    public static void Widen(ReadOnlySpan<BFloat16> x, Span<float> y)
    {
        var ux = MemoryMarshal.Cast<BFloat16, ushort>(x);
        var uy = MemoryMarshal.Cast<float, uint>(y);
        int i = 0, w = Vector<ushort>.Count;
        for (; i <= ux.Length - w; i += w)
        {
            Vector.Widen(new Vector<ushort>(ux.Slice(i, w)), out var low, out var high);
            (low << 16).CopyTo(uy.Slice(i, w / 2));
            (high << 16).CopyTo(uy.Slice(i + w / 2, w / 2));
        }
        for (; i < ux.Length; i++) uy[i] = (uint)ux[i] << 16;
    }
}
