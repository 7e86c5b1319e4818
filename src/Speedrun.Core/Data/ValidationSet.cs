namespace Speedrun.Core.Data;

/// <summary>
/// The first <see cref="Tokens"/> tokens of the validation shards, read as one stream (the files in
/// order, as if concatenated), in batches of B·T inputs plus the one-token-shifted targets. The records
/// evaluate a fixed prefix of the val shard (10,485,760 tokens from record 2 on, 5,242,880 in record 1)
/// and it lies inside FineWeb's single 100M-token val shard, so reading ranks r = 0..world-1 of step s
/// is the same as reading batches s·world + r of this contiguous stream.
/// </summary>
public sealed class ValidationSet : IDisposable
{
    readonly ShardFile?[] _open;
    readonly long[] _starts; // stream offset of each shard's first token, plus the total at the end

    /// <summary>
    /// Opens the val shards and checks they hold at least <paramref name="tokens"/> + 1 tokens (the last
    /// batch needs one more token for its final target).
    /// </summary>
    public ValidationSet(ShardSet shards, long tokens)
    {
        ArgumentNullException.ThrowIfNull(shards);
        ArgumentOutOfRangeException.ThrowIfLessThan(tokens, 1);
        Shards = shards;
        Tokens = tokens;
        var headers = shards.ReadHeaders();
        _starts = new long[headers.Count + 1];
        for (int i = 0; i < headers.Count; i++) _starts[i + 1] = _starts[i] + headers[i].TokenCount;
        long available = _starts[^1];
        if (available < tokens + 1)
            throw new InvalidDataException(
                $"{shards.Description} holds {available} tokens, but evaluating {tokens} val tokens needs {tokens + 1} " +
                "(one more for the last target); lower the number of val tokens (SPEEDRUN_VAL_TOKENS) or add val shards.");
        _open = new ShardFile?[headers.Count];
    }

    /// <summary>The val shards.</summary>
    public ShardSet Shards { get; }

    /// <summary>Number of tokens evaluated (inputs), from the start of the first shard.</summary>
    public long Tokens { get; }

    /// <summary>How many batches of B·T tokens cover <see cref="Tokens"/>; B·T must divide it, as the
    /// records' <c>val_steps = val_tokens // (B·T·world)</c> assumes.</summary>
    public int BatchCount(int batchSize, int sequenceLength)
    {
        long perBatch = CheckShape(batchSize, sequenceLength);
        if (Tokens % perBatch != 0)
            throw new ArgumentException(
                $"{Tokens} val tokens is not a multiple of the {perBatch} tokens (B={batchSize} × T={sequenceLength}) " +
                "one val batch holds; choose a val token count that is.");
        return checked((int)(Tokens / perBatch));
    }

    /// <summary>
    /// Fills batch <paramref name="index"/>: inputs are stream tokens [index·B·T, (index+1)·B·T) and
    /// targets the same range shifted by one.
    /// </summary>
    public void ReadBatch(int index, int batchSize, int sequenceLength, Span<int> inputs, Span<int> targets)
    {
        int count = BatchCount(batchSize, sequenceLength);
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, count);
        int n = batchSize * sequenceLength;
        if (inputs.Length != n || targets.Length != n)
            throw new ArgumentException($"inputs and targets must hold B·T = {n} tokens each (got {inputs.Length} and {targets.Length})");

        long start = (long)index * n;
        // Copy the n+1 window piecewise across shard boundaries: inputs take the first n, targets the last n.
        int written = 0;
        long pos = start;
        while (written < n + 1)
        {
            int shard = ShardAt(pos);
            var tokens = Open(shard).Tokens;
            int offset = (int)(pos - _starts[shard]);
            int take = Math.Min(n + 1 - written, tokens.Length - offset);
            for (int i = 0; i < take; i++)
            {
                int k = written + i;
                int t = tokens[offset + i];
                if (k < n) inputs[k] = t;
                if (k > 0) targets[k - 1] = t;
            }
            written += take;
            pos += take;
        }
    }

    /// <summary>All batches in order, as new arrays.</summary>
    public IEnumerable<TokenBatch> Batches(int batchSize, int sequenceLength)
    {
        int count = BatchCount(batchSize, sequenceLength);
        for (int i = 0; i < count; i++)
        {
            var inputs = new int[batchSize * sequenceLength];
            var targets = new int[batchSize * sequenceLength];
            ReadBatch(i, batchSize, sequenceLength, inputs, targets);
            yield return new TokenBatch(inputs, targets, batchSize, sequenceLength);
        }
    }

    static long CheckShape(int batchSize, int sequenceLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(sequenceLength, 1);
        long perBatch = (long)batchSize * sequenceLength;
        if (perBatch + 1 > int.MaxValue) throw new ArgumentOutOfRangeException(nameof(batchSize), "B·T is too large for one batch");
        return perBatch;
    }

    int ShardAt(long pos)
    {
        // Last shard whose start is ≤ pos and which is not empty at pos.
        int i = Array.BinarySearch(_starts, 0, _open.Length, pos);
        if (i < 0) i = ~i - 1;
        while (_starts[i + 1] <= pos) i++; // skip empty shards that share a start offset
        return i;
    }

    ShardFile Open(int shard) => _open[shard] ??= ShardFile.Open(Shards.Files[shard]);

    /// <summary>Unmaps the shards.</summary>
    public void Dispose()
    {
        for (int i = 0; i < _open.Length; i++)
        {
            _open[i]?.Dispose();
            _open[i] = null;
        }
    }
}
