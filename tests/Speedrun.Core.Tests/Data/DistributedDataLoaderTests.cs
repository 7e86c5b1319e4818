using Speedrun.Core.Data;
using Speedrun.Tests.Shared;

namespace Speedrun.Core.Tests.Data;

/// <summary>
/// Expected batches are worked out by hand from the records' loader rule (facts/records.md §1.2): read
/// B·T+1 tokens at pos, pos += B·T·world, move to the next shard when pos + B·T·world + 1 > length.
/// </summary>
public class DistributedDataLoaderTests
{
    // Shard A holds 0..12 (13 tokens), shard B holds 100..109 (10 tokens): token value = its position
    // (+100 in B), so every expected batch below can be read off the positions.
    static ShardSet TwoShards(TempDir dir)
    {
        RawShard.Write(dir.File("s_a.bin"), RawShard.Range(0, 13));
        RawShard.Write(dir.File("s_b.bin"), RawShard.Range(100, 10));
        return ShardSet.Resolve(dir.File("s_*.bin"));
    }

    static void Next(DistributedDataLoader loader, int[] inputs, int[] targets)
    {
        var b = loader.NextBatch();
        Assert.Equal(inputs, b.Inputs);
        Assert.Equal(targets, b.Targets);
    }

    [Fact]
    public void Rank0WalksBothShardsAndWrapsAround()
    {
        using var dir = new TempDir();
        using var loader = new DistributedDataLoader(TwoShards(dir), batchSize: 1, sequenceLength: 2, rank: 0, worldSize: 2);
        // B·T = 2, step = 4, a read needs 3 tokens.
        // pos 0 → A[0..3); pos 4: 4+5 ≤ 13, stay.
        Next(loader, [0, 1], [1, 2]);
        // pos 4 → A[4..7); pos 8: 8+5 = 13 ≤ 13, stay.
        Next(loader, [4, 5], [5, 6]);
        // pos 8 → A[8..11); pos 12: 17 > 13 → shard B at pos 0 (A's tail 11, 12 is dropped).
        Next(loader, [8, 9], [9, 10]);
        Assert.Equal((1, 0L), (loader.CurrentShard, loader.Position));
        // pos 0 → B[0..3); pos 4: 9 ≤ 10, stay.
        Next(loader, [100, 101], [101, 102]);
        // pos 4 → B[4..7); pos 8: 13 > 10 → wrap to A at pos 0.
        Next(loader, [104, 105], [105, 106]);
        Assert.Equal((0, 0L), (loader.CurrentShard, loader.Position));
        Next(loader, [0, 1], [1, 2]);
    }

    [Fact]
    public void Rank1StartsAtItsOffsetAndChangesShardOneStepBeforeRank0()
    {
        using var dir = new TempDir();
        using var loader = new DistributedDataLoader(TwoShards(dir), batchSize: 1, sequenceLength: 2, rank: 1, worldSize: 2);
        // pos 2 → A[2..5); pos 6: 11 ≤ 13, stay.
        Next(loader, [2, 3], [3, 4]);
        // pos 6 → A[6..9); pos 10: 15 > 13 → B at pos 2. (Rank 0 still reads A[8..11) at this step:
        // the records' test includes the rank offset.)
        Next(loader, [6, 7], [7, 8]);
        // pos 2 → B[2..5); pos 6: 11 > 10 → A at pos 2.
        Next(loader, [102, 103], [103, 104]);
        Next(loader, [2, 3], [3, 4]);
    }

    [Fact]
    public void BatchesAreRowMajorBByT()
    {
        using var dir = new TempDir();
        RawShard.Write(dir.File("one.bin"), RawShard.Range(0, 20));
        using var loader = new DistributedDataLoader([dir.File("one.bin")], batchSize: 2, sequenceLength: 3);
        var b = loader.NextBatch();
        Assert.Equal((2, 3), (b.BatchSize, b.SequenceLength));
        // Rows [0,1,2] and [3,4,5]; targets shifted by one across the row boundary, as buf[1:].view(B,T).
        Assert.Equal([0, 1, 2, 3, 4, 5], b.Inputs);
        Assert.Equal([1, 2, 3, 4, 5, 6], b.Targets);
        Assert.Equal([6, 7, 8, 9, 10, 11], loader.NextBatch().Inputs);      // pos 12: 12+7 = 19 ≤ 20
        Assert.Equal([13, 14, 15, 16, 17, 18], loader.NextBatch().Targets); // pos 18: 25 > 20 → wrap
        Assert.Equal([0, 1, 2, 3, 4, 5], loader.NextBatch().Inputs);
    }

    [Fact]
    public void ResetReturnsToTheFirstBatch()
    {
        using var dir = new TempDir();
        using var loader = new DistributedDataLoader(TwoShards(dir), 1, 2, rank: 1, worldSize: 2);
        for (int i = 0; i < 4; i++) loader.NextBatch(); // visits B and comes back to A
        loader.Reset();
        Assert.Equal((0, 2L), (loader.CurrentShard, loader.Position));
        Next(loader, [2, 3], [3, 4]);
    }

    [Fact]
    public void CreateRanksGivesOneLoaderPerMicroStep()
    {
        using var dir = new TempDir();
        var loaders = DistributedDataLoader.CreateRanks(TwoShards(dir), 1, 2, worldSize: 2);
        try
        {
            Assert.Equal([0, 1], loaders.Select(l => l.Rank));
            // Step 1 over both ranks covers A[0..4) contiguously (+1 target).
            Assert.Equal([0, 1], loaders[0].NextBatch().Inputs);
            Assert.Equal([2, 3], loaders[1].NextBatch().Inputs);
        }
        finally
        {
            foreach (var l in loaders) l.Dispose();
        }
    }

    [Fact]
    public void NextTokensGivesTheRawWindow()
    {
        using var dir = new TempDir();
        using var loader = new DistributedDataLoader(TwoShards(dir), 1, 2, rank: 1, worldSize: 2);
        var window = new ushort[3];
        loader.NextTokens(window);
        Assert.Equal(new ushort[] { 2, 3, 4 }, window);
        Assert.Throws<ArgumentException>(() => loader.NextTokens(new ushort[2]));
    }

    [Fact]
    public void ShardTooSmallForOneStepIsRefusedNamingIt()
    {
        using var dir = new TempDir();
        RawShard.Write(dir.File("s_a.bin"), RawShard.Range(0, 13));
        RawShard.Write(dir.File("s_b.bin"), RawShard.Range(0, 4)); // one step of 2 ranks × 1 × 2 needs 5
        var e = Assert.Throws<InvalidDataException>(() => new DistributedDataLoader(ShardSet.Resolve(dir.File("s_*.bin")), 1, 2, 0, 2));
        Assert.Contains("s_b.bin", e.Message);
        Assert.Contains("holds 4 tokens, fewer than the 5", e.Message);
    }

    [Fact]
    public void InvalidShardIsRefusedAtConstruction()
    {
        using var dir = new TempDir();
        RawShard.Write(dir.File("s_a.bin"), RawShard.Range(0, 13));
        RawShard.Write(dir.File("s_b.bin"), 20240520, 1, 100, RawShard.Range(0, 10));
        var e = Assert.Throws<ShardFormatException>(() => new DistributedDataLoader(ShardSet.Resolve(dir.File("s_*.bin")), 1, 2));
        Assert.Contains("s_b.bin", e.Message);
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void TokenOutsideTheVocabularyIsRefused()
    {
        using var dir = new TempDir();
        RawShard.Write(dir.File("bad.bin"), 5, 6, 50257, 7, 8);
        using var loader = new DistributedDataLoader([dir.File("bad.bin")], 1, 4);
        var e = Assert.Throws<InvalidDataException>(() => loader.NextBatch());
        Assert.Contains("bad.bin", e.Message);
        Assert.Contains("token 50257 at position 2", e.Message);
        using var unchecked_ = new DistributedDataLoader([dir.File("bad.bin")], 1, 4, tokenLimit: 65536);
        Assert.Equal([5, 6, 50257, 7], unchecked_.NextBatch().Inputs);
    }

    [Fact]
    public void RankMustBeBelowWorldSize()
    {
        using var dir = new TempDir();
        var shards = TwoShards(dir);
        Assert.Throws<ArgumentOutOfRangeException>(() => new DistributedDataLoader(shards, 1, 2, rank: 2, worldSize: 2));
    }
}
