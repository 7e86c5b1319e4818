using System.Buffers.Binary;

namespace Speedrun.Core.Data;

/// <summary>The validated header of a shard: how many tokens follow it.</summary>
/// <param name="Path">The shard file.</param>
/// <param name="TokenCount">Number of uint16 tokens after the header.</param>
public readonly record struct ShardHeader(string Path, int TokenCount)
{
    /// <summary>The exact file length a complete shard with this header has.</summary>
    public long ExpectedFileLength => ShardFormat.FileLength(TokenCount);
}

/// <summary>
/// The speedrun's <c>.bin</c> shard layout (modded-nanogpt <c>data/fineweb.py</c>, llm.c): a header of
/// 256 little-endian int32 (magic 20240520, version 1, token count N, the rest zero), then N uint16
/// GPT-2 tokens with no padding.
/// </summary>
public static class ShardFormat
{
    /// <summary>First header word of every shard.</summary>
    public const int Magic = 20240520;
    /// <summary>Second header word: version 1 stores tokens as uint16.</summary>
    public const int Version = 1;
    /// <summary>Header length in int32 words.</summary>
    public const int HeaderInts = 256;
    /// <summary>Header length in bytes.</summary>
    public const int HeaderBytes = HeaderInts * sizeof(int);
    /// <summary>Bytes per token in the body.</summary>
    public const int BytesPerToken = sizeof(ushort);
    /// <summary>Tokens in the GPT-2 vocabulary the body's ids come from (50,256 BPE tokens plus end-of-text):
    /// a valid token is below it.</summary>
    public const int VocabSize = 50257;

    /// <summary>The length of a complete shard holding <paramref name="tokenCount"/> tokens.</summary>
    public static long FileLength(long tokenCount) => HeaderBytes + BytesPerToken * tokenCount;

    /// <summary>Fills <paramref name="header"/> (1024 bytes) with the header of a shard of
    /// <paramref name="tokenCount"/> tokens.</summary>
    public static void WriteHeader(Span<byte> header, int tokenCount)
    {
        if (header.Length != HeaderBytes) throw new ArgumentException($"a shard header is {HeaderBytes} bytes", nameof(header));
        ArgumentOutOfRangeException.ThrowIfNegative(tokenCount);
        header.Clear();
        BinaryPrimitives.WriteInt32LittleEndian(header, Magic);
        BinaryPrimitives.WriteInt32LittleEndian(header[4..], Version);
        BinaryPrimitives.WriteInt32LittleEndian(header[8..], tokenCount);
    }

    /// <summary>
    /// Checks the header bytes of <paramref name="path"/> (magic, version, a non-negative count) and
    /// returns the token count; throws <see cref="ShardFormatException"/> otherwise. The file length is
    /// not checked here (see <see cref="ReadHeader"/>), so a download can check a partial file early.
    /// </summary>
    public static int ParseHeader(string path, ReadOnlySpan<byte> header)
    {
        if (header.Length < HeaderBytes)
            throw new ShardFormatException(path, ShardProblem.NoHeader,
                $"the file has {header.Length} bytes, fewer than the {HeaderBytes}-byte shard header; " +
                "it is not a speedrun shard or was cut short: re-download or rebuild it");
        int magic = BinaryPrimitives.ReadInt32LittleEndian(header);
        if (magic != Magic)
            throw new ShardFormatException(path, ShardProblem.WrongMagic, $"magic is {magic}, expected {Magic} — not a speedrun shard");
        int version = BinaryPrimitives.ReadInt32LittleEndian(header[4..]);
        if (version != Version)
            throw new ShardFormatException(path, ShardProblem.WrongVersion,
                $"version is {version}, expected {Version} (uint16 GPT-2 tokens) — this shard was written " +
                "in a format this reader does not know; rebuild it with `speedrun data build` or re-download it");
        int count = BinaryPrimitives.ReadInt32LittleEndian(header[8..]);
        if (count < 0)
            throw new ShardFormatException(path, ShardProblem.NegativeCount, $"header says {count} tokens, a negative count — the header is corrupt; re-download or rebuild it");
        return count;
    }

    /// <summary>
    /// Reads and validates the header of <paramref name="path"/> and checks that the file length is
    /// exactly 1024 + 2N bytes. Throws <see cref="ShardFormatException"/> naming the file and the problem.
    /// </summary>
    public static ShardHeader ReadHeader(string path)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        long length = RandomAccess.GetLength(handle);
        Span<byte> header = stackalloc byte[HeaderBytes];
        int read = 0;
        while (read < HeaderBytes)
        {
            int n = RandomAccess.Read(handle, header[read..], read);
            if (n == 0) break;
            read += n;
        }
        int count = ParseHeader(path, header[..read]);
        CheckLength(path, count, length);
        return new ShardHeader(path, count);
    }

    /// <summary>Throws unless a file of <paramref name="actualLength"/> bytes is a complete shard of
    /// <paramref name="tokenCount"/> tokens.</summary>
    public static void CheckLength(string path, int tokenCount, long actualLength)
    {
        long expected = FileLength(tokenCount);
        if (actualLength < expected)
            throw new ShardFormatException(path, ShardProblem.Truncated,
                $"truncated: header says {tokenCount} tokens ({expected} bytes) but the file has {actualLength} bytes; " +
                "re-download or rebuild it");
        if (actualLength > expected)
            throw new ShardFormatException(path, ShardProblem.TooLong,
                $"header says {tokenCount} tokens ({expected} bytes) but the file has {actualLength} bytes, " +
                $"{actualLength - expected} too many — it is corrupt or not a speedrun shard; re-download or rebuild it");
    }
}
