namespace Speedrun.Core.Data;

/// <summary>
/// The data loader of records 1–11 (and, with B=1 and T=65,536, records 12–17), one instance per rank.
/// Each call reads B·T+1 contiguous tokens at <c>pos</c> (which starts at rank·B·T), returns inputs
/// and targets shifted by one, then sets <c>pos += B·T·world</c>; if <c>pos + B·T·world + 1</c> would
/// pass the end of the shard, it moves to the next shard (wrapping to the first) at <c>pos = rank·B·T</c>
/// and the old shard's tail is never read.
/// <para>
/// The shard-change test uses this rank's <c>pos</c>, which includes its rank offset, so near the end of
/// a shard the higher ranks can move on one step before the lower ones, exactly as in the records. One
/// device emulates <c>world</c> ranks with one loader per rank (see <see cref="CreateRanks"/>), reading
/// rank r's batch at micro-step r.
/// </para>
/// Shards are memory-mapped; only the current one is open.
/// </summary>
public sealed class DistributedDataLoader : IDisposable
{
    readonly IReadOnlyList<ShardHeader> _headers;
    readonly int _tokenLimit;
    ShardFile? _shard;

    /// <summary>
    /// Opens the loader on <paramref name="shards"/> and validates every shard's header, as the records'
    /// constructor does; each shard must hold at least world·B·T+1 tokens (one full step).
    /// </summary>
    /// <param name="shards">The shard files, in reading order.</param>
    /// <param name="batchSize">B: sequences per batch on this rank.</param>
    /// <param name="sequenceLength">T: tokens per sequence.</param>
    /// <param name="rank">This rank (0 ≤ rank &lt; world), or the micro-step it stands for.</param>
    /// <param name="worldSize">Number of ranks reading the stream together.</param>
    /// <param name="tokenLimit">Tokens must be below this (default: the GPT-2 vocabulary size); a larger
    /// id would index past the embedding table, so the loader refuses it. Pass 65536 to disable.</param>
    public DistributedDataLoader(ShardSet shards, int batchSize, int sequenceLength, int rank = 0, int worldSize = 1,
        int tokenLimit = ShardFormat.VocabSize)
    {
        ArgumentNullException.ThrowIfNull(shards);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(sequenceLength, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(worldSize, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(rank);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(rank, worldSize);
        ArgumentOutOfRangeException.ThrowIfLessThan(tokenLimit, 1);
        long tokensPerBatch = (long)batchSize * sequenceLength;
        if (tokensPerBatch + 1 > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(batchSize), $"B·T = {tokensPerBatch} tokens is too large for one batch");

        Shards = shards;
        BatchSize = batchSize;
        SequenceLength = sequenceLength;
        Rank = rank;
        WorldSize = worldSize;
        _tokenLimit = tokenLimit;
        _headers = shards.ReadHeaders();
        long step = tokensPerBatch * worldSize;
        foreach (var h in _headers)
        {
            if (h.TokenCount < step + 1)
                throw new InvalidDataException(
                    $"{h.Path}: holds {h.TokenCount} tokens, fewer than the {step + 1} that one step of " +
                    $"{worldSize} rank(s) × {batchSize} × {sequenceLength} tokens (+1 for the last target) needs; " +
                    "use a smaller batch or sequence length, or larger shards.");
            TotalTokens += h.TokenCount;
        }
        Reset();
    }

    /// <summary>Opens a loader on explicit shard files.</summary>
    public DistributedDataLoader(IReadOnlyList<string> files, int batchSize, int sequenceLength, int rank = 0, int worldSize = 1,
        int tokenLimit = ShardFormat.VocabSize)
        : this(ShardSet.FromFiles(files), batchSize, sequenceLength, rank, worldSize, tokenLimit)
    {
    }

    /// <summary>One loader per rank 0..world-1, so one device can stand in for <paramref name="worldSize"/>
    /// GPUs by gradient accumulation (micro-step r reads rank r's batch).</summary>
    public static DistributedDataLoader[] CreateRanks(ShardSet shards, int batchSize, int sequenceLength, int worldSize,
        int tokenLimit = ShardFormat.VocabSize)
    {
        var loaders = new DistributedDataLoader[worldSize];
        try
        {
            for (int r = 0; r < worldSize; r++)
                loaders[r] = new DistributedDataLoader(shards, batchSize, sequenceLength, r, worldSize, tokenLimit);
            return loaders;
        }
        catch
        {
            foreach (var l in loaders) l?.Dispose();
            throw;
        }
    }

    /// <summary>The shards read, in order.</summary>
    public ShardSet Shards { get; }
    /// <summary>B: sequences per batch.</summary>
    public int BatchSize { get; }
    /// <summary>T: tokens per sequence.</summary>
    public int SequenceLength { get; }
    /// <summary>This loader's rank.</summary>
    public int Rank { get; }
    /// <summary>Number of ranks sharing the stream.</summary>
    public int WorldSize { get; }
    /// <summary>B·T: tokens in one batch's inputs.</summary>
    public int TokensPerBatch => BatchSize * SequenceLength;
    /// <summary>Tokens in all shards together.</summary>
    public long TotalTokens { get; }
    /// <summary>Index of the current shard in <see cref="ShardSet.Files"/>.</summary>
    public int CurrentShard { get; private set; }
    /// <summary>Token offset of the next read in the current shard.</summary>
    public long Position { get; private set; }
    /// <summary>Path of the current shard.</summary>
    public string CurrentFile => Shards.Files[CurrentShard];

    /// <summary>Back to the first shard at position rank·B·T (the records call this before validation).</summary>
    public void Reset()
    {
        if (CurrentShard != 0 || _shard is null) OpenShard(0);
        Position = (long)Rank * TokensPerBatch;
    }

    /// <summary>
    /// Copies the next B·T+1 raw tokens into <paramref name="window"/> and advances; inputs are
    /// window[..^1] and targets window[1..]. Lets a caller upload uint16 tokens and widen them on device.
    /// </summary>
    public void NextTokens(Span<ushort> window)
    {
        int n = TokensPerBatch + 1;
        if (window.Length != n)
            throw new ArgumentException($"the window must hold B·T+1 = {n} tokens, not {window.Length}", nameof(window));
        var source = Current(n);
        source.CopyTo(window);
        Advance();
    }

    /// <summary>Fills <paramref name="inputs"/> and <paramref name="targets"/> (B·T each, row-major) and advances.</summary>
    public void NextBatch(Span<int> inputs, Span<int> targets)
    {
        int n = TokensPerBatch;
        if (inputs.Length != n || targets.Length != n)
            throw new ArgumentException($"inputs and targets must hold B·T = {n} tokens each (got {inputs.Length} and {targets.Length})");
        var source = Current(n + 1);
        for (int i = 0; i < n; i++)
        {
            inputs[i] = source[i];
            targets[i] = source[i + 1];
        }
        Advance();
    }

    /// <summary>The next batch as new arrays, then advances.</summary>
    public TokenBatch NextBatch()
    {
        var inputs = new int[TokensPerBatch];
        var targets = new int[TokensPerBatch];
        NextBatch(inputs, targets);
        return new TokenBatch(inputs, targets, BatchSize, SequenceLength);
    }

    ReadOnlySpan<ushort> Current(int count)
    {
        // The constructor's size check and the advance rule keep every read inside the shard.
        var tokens = _shard!.Tokens.Slice((int)Position, count);
        CheckTokens(tokens);
        return tokens;
    }

    void CheckTokens(ReadOnlySpan<ushort> tokens)
    {
        if (_tokenLimit > ushort.MaxValue) return;
        int at = tokens.IndexOfAnyExceptInRange((ushort)0, (ushort)(_tokenLimit - 1)); // vectorized
        if (at < 0) return;
        throw new InvalidDataException(
            $"{CurrentFile}: token {tokens[at]} at position {Position + at} is not below {_tokenLimit}, the vocabulary " +
            "size; these shards were not made with the GPT-2 tokenizer. Rebuild them with `speedrun data build`.");
    }

    void Advance()
    {
        long step = (long)TokensPerBatch * WorldSize;
        Position += step;
        if (Position + step + 1 > _headers[CurrentShard].TokenCount)
        {
            OpenShard((CurrentShard + 1) % Shards.Files.Count);
            Position = (long)Rank * TokensPerBatch;
        }
    }

    void OpenShard(int index)
    {
        var next = ShardFile.Open(Shards.Files[index]);
        if (next.TokenCount != _headers[index].TokenCount)
        {
            next.Dispose();
            throw new InvalidDataException($"{Shards.Files[index]}: changed while training (its token count differs from when the loader opened it)");
        }
        _shard?.Dispose();
        _shard = next;
        CurrentShard = index;
    }

    /// <summary>Unmaps the current shard.</summary>
    public void Dispose()
    {
        _shard?.Dispose();
        _shard = null;
    }
}
