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
    /// <summary>The raw bits: the upper half of the float32 with the same sign, exponent and leading mantissa.</summary>
    public readonly ushort Bits;

    /// <summary>A value from its raw bits.</summary>
    public BFloat16(ushort bits) => Bits = bits;

    /// <summary>The nearest bf16 (ties to even).</summary>
    public static BFloat16 FromFloat(float value) => new(Round(value));

    /// <summary>The exact float32 value.</summary>
    public float ToFloat() => Interop.IntAsFloat((uint)Bits << 16);

    /// <summary>fp32 -> bf16 bits, round to nearest even.</summary>
    public static ushort Round(float value)
    {
        uint u = Interop.FloatAsInt(value);
        if ((u & 0x7FFF_FFFFu) > 0x7F80_0000u) return (ushort)((u >> 16) | 0x0040u); // NaN stays NaN (quiet)
        return (ushort)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
    }

    /// <summary>bf16 bits → the exact float32 (a 16-bit shift).</summary>
    public static float Widen(ushort bits) => Interop.IntAsFloat((uint)bits << 16);

    /// <summary>Bitwise equality (NaNs with equal bits are equal).</summary>
    public bool Equals(BFloat16 other) => Bits == other.Bits;
    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is BFloat16 b && Equals(b);
    /// <inheritdoc/>
    public override int GetHashCode() => Bits;
    /// <summary>The value, to 5 significant digits.</summary>
    public override string ToString() => ToFloat().ToString("G5");
}
