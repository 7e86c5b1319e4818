namespace Speedrun.Benchmark.Data;

/// <summary>One written shard: its file name (no folder) and token count.</summary>
public sealed record ShardEntry(string File, long Tokens);

/// <summary>
/// Cuts a token stream into numbered shards <c>{prefix}_000000.bin</c>, <c>{prefix}_000001.bin</c>, …
/// of <see cref="ShardTokens"/> tokens each (the last holds the remainder), as FineWeb's shards are cut.
/// Documents may straddle shards, as they do in FineWeb. Each shard is committed atomically.
/// </summary>
public sealed class ShardSequenceWriter : IDisposable
{
    readonly string _directory;
    readonly string _prefix;
    readonly List<ShardEntry> _written = new();
    ShardWriter? _current;
    int _nextIndex;

    /// <summary>Writes shards into <paramref name="directory"/> named <c>{prefix}_{index:D6}.bin</c>,
    /// numbered from <paramref name="firstIndex"/>.</summary>
    public ShardSequenceWriter(string directory, string prefix, int shardTokens, int firstIndex = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(shardTokens, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(firstIndex);
        _directory = directory;
        _prefix = prefix;
        ShardTokens = shardTokens;
        _nextIndex = firstIndex;
    }

    /// <summary>Tokens per shard (the last shard may hold fewer).</summary>
    public int ShardTokens { get; }

    /// <summary>Tokens written so far, over all shards.</summary>
    public long TotalTokens { get; private set; }

    /// <summary>The shard file name for <paramref name="index"/>, e.g. <c>train_000003.bin</c>.</summary>
    public static string ShardName(string prefix, int index) => $"{prefix}_{index:D6}.bin";

    /// <summary>Appends tokens, starting new shards as they fill.</summary>
    public void Write(ReadOnlySpan<int> tokens)
    {
        while (!tokens.IsEmpty)
        {
            _current ??= new ShardWriter(Path.Combine(_directory, ShardName(_prefix, _nextIndex)));
            int room = (int)(ShardTokens - _current.TokenCount);
            int n = Math.Min(room, tokens.Length);
            _current.Write(tokens[..n]);
            TotalTokens += n;
            tokens = tokens[n..];
            if (_current.TokenCount == ShardTokens) CommitCurrent();
        }
    }

    /// <summary>Commits the last, partly filled shard and returns every shard written, in order.
    /// No tokens means no shards.</summary>
    public IReadOnlyList<ShardEntry> Complete()
    {
        if (_current is not null) CommitCurrent();
        return _written.ToArray();
    }

    void CommitCurrent()
    {
        var shard = _current!;
        shard.Commit();
        shard.Dispose();
        _written.Add(new ShardEntry(Path.GetFileName(shard.Path), shard.TokenCount));
        _current = null;
        _nextIndex++;
    }

    /// <summary>Abandons an uncommitted shard.</summary>
    public void Dispose() => _current?.Dispose();
}
