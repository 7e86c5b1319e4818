using System.Security.Cryptography;
using System.Text;

namespace Speedrun.Benchmark.Data;

/// <summary>
/// A deterministic train/val split: each document gets a stable 64-bit hash of a key (its text, or its
/// path); the val set is the ⌈n·valFraction⌉ documents with the smallest hashes (at least one when the
/// fraction is positive and there are two or more documents, never all of them). The hash, not the
/// order of enumeration, decides, so the split is the same on every machine.
/// </summary>
public static class DocumentSplit
{
    /// <summary>A stable hash (first 8 bytes of SHA-256 of the UTF-8 key, little-endian); unlike
    /// <see cref="string.GetHashCode()"/> it is the same in every process.</summary>
    public static ulong StableHash(string key)
    {
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(key), digest);
        return BitConverter.ToUInt64(digest);
    }

    /// <summary>How many of <paramref name="documents"/> documents go to val.</summary>
    public static int ValCount(int documents, double valFraction)
    {
        CheckFraction(valFraction);
        if (documents < 2 || valFraction == 0) return 0;
        int n = (int)Math.Ceiling(documents * valFraction);
        return Math.Clamp(n, 1, documents - 1);
    }

    /// <summary>For each document (by index), whether it belongs to val.</summary>
    public static bool[] IsVal(IReadOnlyList<ulong> hashes, double valFraction)
    {
        int count = ValCount(hashes.Count, valFraction);
        var order = Enumerable.Range(0, hashes.Count).OrderBy(i => hashes[i]).ThenBy(i => i).ToArray();
        var isVal = new bool[hashes.Count];
        for (int k = 0; k < count; k++) isVal[order[k]] = true;
        return isVal;
    }

    /// <summary>Throws unless 0 ≤ <paramref name="valFraction"/> &lt; 1.</summary>
    public static void CheckFraction(double valFraction)
    {
        if (!(valFraction >= 0 && valFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(valFraction), valFraction, "the val fraction must be at least 0 and below 1");
    }
}
