namespace Speedrun.Benchmark.Data;

/// <summary>Progress of a shard download.</summary>
/// <param name="FileName">The shard being fetched.</param>
/// <param name="FileIndex">Its 0-based index in the download list.</param>
/// <param name="FileCount">Files in the download list.</param>
/// <param name="BytesDone">Bytes of this file on disk so far (including a resumed part).</param>
/// <param name="BytesTotal">The file's full size once known (from its header), else null.</param>
/// <param name="Status">"downloading", "resuming", "done" or "skipped" (already complete).</param>
public readonly record struct DownloadProgress(string FileName, int FileIndex, int FileCount, long BytesDone, long? BytesTotal, string Status);
