namespace Speedrun.Core.Data;

/// <summary>Why a file was refused as a shard (see <see cref="ShardFormatException.Kind"/>).</summary>
public enum ShardProblem
{
    /// <summary>Shorter than the 1024-byte header.</summary>
    NoHeader,
    /// <summary>Header word 0 is not 20240520.</summary>
    WrongMagic,
    /// <summary>Header word 1 is not 1.</summary>
    WrongVersion,
    /// <summary>Header word 2 (the token count) is negative.</summary>
    NegativeCount,
    /// <summary>The file is shorter than 1024 + 2N bytes: cut short (an interrupted copy or download).</summary>
    Truncated,
    /// <summary>The file is longer than 1024 + 2N bytes.</summary>
    TooLong,
}
