namespace Speedrun.Core.Data;

/// <summary>
/// A file that should be a speedrun <c>.bin</c> shard is not one: wrong magic or version, or a length
/// that does not match its header. The message names the file, says what is wrong and what to do.
/// (An <see cref="IOException"/>: <see cref="InvalidDataException"/> is sealed.)
/// </summary>
public sealed class ShardFormatException : IOException
{
    /// <summary>Creates the exception for <paramref name="filePath"/>; the message is "path: problem".</summary>
    public ShardFormatException(string filePath, ShardProblem kind, string problem)
        : base($"{filePath}: {problem}")
    {
        FilePath = filePath;
        Kind = kind;
        Problem = problem;
    }

    /// <summary>Which check failed.</summary>
    public ShardProblem Kind { get; }

    /// <summary>The file that failed validation.</summary>
    public string FilePath { get; }

    /// <summary>What is wrong with it, without the path.</summary>
    public string Problem { get; }
}
