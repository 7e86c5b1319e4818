namespace Speedrun.Benchmark.Data;

/// <summary>A FineWeb shard could not be downloaded; the message names the file, the cause and what to do.</summary>
public sealed class FineWebDownloadException : IOException
{
    /// <summary>Creates the exception.</summary>
    public FineWebDownloadException(string message, Exception? inner = null) : base(message, inner) { }
}
