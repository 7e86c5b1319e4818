using Speedrun.Core.Data;

namespace Speedrun.Benchmark.Data;

/// <summary>
/// Writes one shard incrementally. Tokens go to a temporary file next to the target; <see cref="Commit"/>
/// writes the real header, flushes and renames it into place, so a crash never leaves a half-written
/// shard under the final name (a reader would otherwise see a valid-looking header with a short body).
/// Disposing without committing deletes the temporary file.
/// </summary>
public sealed class ShardWriter : IDisposable
{
    readonly FileStream _stream;
    readonly string _tempPath;
    readonly byte[] _buffer = new byte[1 << 16];
    long _tokens;
    bool _done;

    /// <summary>Starts a shard that will be committed as <paramref name="path"/> (its folder must exist).</summary>
    public ShardWriter(string path)
    {
        Path = System.IO.Path.GetFullPath(path);
        _tempPath = $"{Path}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
        _stream = new FileStream(_tempPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
        // Placeholder header: the count is only known at the end.
        _stream.Write(new byte[ShardFormat.HeaderBytes]);
    }

    /// <summary>The final path of the shard.</summary>
    public string Path { get; }

    /// <summary>Tokens written so far.</summary>
    public long TokenCount => _tokens;

    /// <summary>Appends tokens; each must be in 0..65535 (uint16 storage).</summary>
    public void Write(ReadOnlySpan<int> tokens)
    {
        CheckRoom(tokens.Length);
        while (!tokens.IsEmpty)
        {
            int n = Math.Min(tokens.Length, _buffer.Length / 2);
            for (int i = 0; i < n; i++)
            {
                int t = tokens[i];
                if ((uint)t > ushort.MaxValue)
                    throw new ArgumentOutOfRangeException(nameof(tokens), t,
                        $"token {t} at index {_tokens + i} does not fit a uint16 shard (0..65535)");
                _buffer[2 * i] = (byte)t;
                _buffer[2 * i + 1] = (byte)(t >> 8);
            }
            _stream.Write(_buffer, 0, 2 * n);
            _tokens += n;
            tokens = tokens[n..];
        }
    }

    /// <summary>Appends tokens.</summary>
    public void Write(ReadOnlySpan<ushort> tokens)
    {
        CheckRoom(tokens.Length);
        while (!tokens.IsEmpty)
        {
            int n = Math.Min(tokens.Length, _buffer.Length / 2);
            for (int i = 0; i < n; i++)
            {
                _buffer[2 * i] = (byte)tokens[i];
                _buffer[2 * i + 1] = (byte)(tokens[i] >> 8);
            }
            _stream.Write(_buffer, 0, 2 * n);
            _tokens += n;
            tokens = tokens[n..];
        }
    }

    void CheckRoom(int adding)
    {
        ObjectDisposedException.ThrowIf(_done, this);
        // The header stores the count as int32.
        if (_tokens + adding > int.MaxValue)
            throw new InvalidOperationException($"{Path}: a shard holds at most {int.MaxValue} tokens");
    }

    /// <summary>Writes the header, flushes to disk and renames the file to <see cref="Path"/>
    /// (replacing an existing file atomically).</summary>
    public void Commit()
    {
        ObjectDisposedException.ThrowIf(_done, this);
        var header = new byte[ShardFormat.HeaderBytes];
        ShardFormat.WriteHeader(header, (int)_tokens);
        _stream.Position = 0;
        _stream.Write(header);
        _stream.Flush(flushToDisk: true);
        _stream.Dispose();
        File.Move(_tempPath, Path, overwrite: true);
        _done = true;
    }

    /// <summary>Abandons an uncommitted shard (its temporary file is deleted).</summary>
    public void Dispose()
    {
        if (_done) return;
        _done = true;
        _stream.Dispose();
        try { File.Delete(_tempPath); } catch (IOException) { } // best effort: a leftover temp file is harmless
    }

    /// <summary>Writes a whole shard in one call (temporary file, then rename).</summary>
    public static void WriteAll(string path, ReadOnlySpan<ushort> tokens)
    {
        using var writer = new ShardWriter(path);
        writer.Write(tokens);
        writer.Commit();
    }

    /// <summary>Writes a whole shard in one call; tokens must be in 0..65535.</summary>
    public static void WriteAll(string path, ReadOnlySpan<int> tokens)
    {
        using var writer = new ShardWriter(path);
        writer.Write(tokens);
        writer.Commit();
    }
}
