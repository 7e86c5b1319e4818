using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Speedrun.Benchmark.Runs;

/// <summary>
/// The evaluation channel between the harness and the process that runs a program's model, over a Unix socket,
/// little-endian: the model process first sends its context length T (int32); then per batch the harness sends
/// B and T (int32 each) and B·T token ids (int32), and the model process answers with C (int32) and then the B·T·C
/// logits (float32, row-major over positions) in one or more pieces, each its position count P (int32) followed by
/// P·C floats, until every position is covered (a 64K-token stream's logits never exist whole on either side).
/// B = 0 ends the session. Only logits cross: the loss is computed on the harness side.
/// </summary>
public static class EvaluationWire
{
    public static void WriteInt(Stream s, int value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(b, value);
        s.Write(b);
    }

    public static int ReadInt(Stream s)
    {
        Span<byte> b = stackalloc byte[4];
        s.ReadExactly(b);
        return BinaryPrimitives.ReadInt32LittleEndian(b);
    }

    public static void WriteInts(Stream s, ReadOnlySpan<int> values) => s.Write(MemoryMarshal.AsBytes(values));

    public static void ReadInts(Stream s, Span<int> values) => s.ReadExactly(MemoryMarshal.AsBytes(values));

    const int Chunk = 1 << 20; // floats per write or read, so no byte span passes 2 GiB

    /// <summary>Floats each side copies at a time (4 MiB): logits stream through a buffer of this size on both ends
    /// of the channel.</summary>
    public const int FloatsPerPart = 1 << 20;

    public static void WriteFloats(Stream s, ReadOnlySpan<float> values)
    {
        for (int i = 0; i < values.Length; i += Chunk) s.Write(MemoryMarshal.AsBytes(values.Slice(i, Math.Min(Chunk, values.Length - i))));
    }

    public static void ReadFloats(Stream s, Span<float> values)
    {
        for (int i = 0; i < values.Length; i += Chunk) s.ReadExactly(MemoryMarshal.AsBytes(values.Slice(i, Math.Min(Chunk, values.Length - i))));
    }
}
