using System.IO.MemoryMappedFiles;

namespace Speedrun.Core.Data;

/// <summary>
/// A validated shard, memory-mapped read-only: <see cref="Tokens"/> reads straight from the page cache,
/// so a loader touches only the tokens it uses instead of copying a 200 MB FineWeb shard into a managed
/// array. Dispose it to unmap; spans taken from <see cref="Tokens"/> must not outlive it.
/// </summary>
public sealed unsafe class ShardFile : IDisposable
{
    readonly MemoryMappedFile _map;
    readonly MemoryMappedViewAccessor _view;
    byte* _base; // start of the mapped view (already offset by PointerOffset); null once disposed

    ShardFile(string path, int tokenCount, MemoryMappedFile map, MemoryMappedViewAccessor view)
    {
        Path = path;
        TokenCount = tokenCount;
        _map = map;
        _view = view;
        byte* p = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        _base = p + view.PointerOffset;
    }

    /// <summary>The shard's path as given to <see cref="Open"/>.</summary>
    public string Path { get; }

    /// <summary>Number of tokens in the shard (header word 2, checked against the file length).</summary>
    public int TokenCount { get; }

    /// <summary>The shard's tokens, read from the mapping. Valid until <see cref="Dispose"/>.</summary>
    public ReadOnlySpan<ushort> Tokens
    {
        get
        {
            ObjectDisposedException.ThrowIf(_base == null, this);
            return new ReadOnlySpan<ushort>(_base + ShardFormat.HeaderBytes, TokenCount);
        }
    }

    /// <summary>
    /// Opens <paramref name="path"/> after checking magic, version and that the length is 1024 + 2N;
    /// throws <see cref="ShardFormatException"/> (naming the file) if any check fails.
    /// </summary>
    public static ShardFile Open(string path)
    {
        // Validate before mapping: mapping a short or empty file would fail with an unhelpful error.
        var header = ShardFormat.ReadHeader(path);
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        MemoryMappedFile? map = null;
        try
        {
            // The file could have changed between the two opens; check the length we map.
            ShardFormat.CheckLength(path, header.TokenCount, stream.Length);
            map = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read,
                HandleInheritability.None, leaveOpen: false);
            var view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            return new ShardFile(path, header.TokenCount, map, view);
        }
        catch
        {
            if (map is null) stream.Dispose();
            map?.Dispose();
            throw;
        }
    }

    /// <summary>Unmaps the file.</summary>
    public void Dispose()
    {
        if (_base == null) return;
        _base = null;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }
}
