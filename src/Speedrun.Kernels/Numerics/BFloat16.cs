using System.Runtime.InteropServices;
using ILGPU;

namespace Speedrun.Kernels.Numerics;

/// <summary>
/// bfloat16 stored as its 16 raw bits (ILGPU 1.5.3 has no bf16 type). Widening is a 16-bit shift;
/// narrowing rounds to nearest, ties to even, and keeps NaN a quiet NaN. Works on the host and in kernels.
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = 2)]
public readonly struct BFloat16 : IEquatable<BFloat16>
{
    public readonly ushort Bits;

    public BFloat16(ushort bits) => Bits = bits;

    public static BFloat16 FromFloat(float value) => new(Round(value));

    public float ToFloat() => Interop.IntAsFloat((uint)Bits << 16);

    /// <summary>fp32 -> bf16 bits, round to nearest even.</summary>
    public static ushort Round(float value)
    {
        uint u = Interop.FloatAsInt(value);
        if ((u & 0x7FFF_FFFFu) > 0x7F80_0000u) return (ushort)((u >> 16) | 0x0040u); // NaN stays NaN (quiet)
        return (ushort)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
    }

    public static float Widen(ushort bits) => Interop.IntAsFloat((uint)bits << 16);

    public bool Equals(BFloat16 other) => Bits == other.Bits;
    public override bool Equals(object? obj) => obj is BFloat16 b && Equals(b);
    public override int GetHashCode() => Bits;
    public override string ToString() => ToFloat().ToString("G5");
}
