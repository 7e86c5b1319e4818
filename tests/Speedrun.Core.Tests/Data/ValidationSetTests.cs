using Speedrun.Core.Data;
using Speedrun.Tests.Shared;

namespace Speedrun.Core.Tests.Data;

public class ValidationSetTests
{
    // Two val shards whose tokens are their stream positions: 0..9 then 10..15.
    static ShardSet ValShards(TempDir dir)
    {
        RawShard.Write(dir.File("val_000000.bin"), RawShard.Range(0, 10));
        RawShard.Write(dir.File("val_000001.bin"), RawShard.Range(10, 6));
        return ShardSet.Resolve(dir.File("val_*.bin"), "SPEEDRUN_VAL_FILES");
    }

    [Fact]
    public void ReadsTheFirstTokensContiguouslyAcrossShards()
    {
        using var dir = new TempDir();
        using var val = new ValidationSet(ValShards(dir), tokens: 12);
        Assert.Equal(2, val.BatchCount(2, 3));
        var batches = val.Batches(2, 3).ToArray();
        Assert.Equal([0, 1, 2, 3, 4, 5], batches[0].Inputs);
        Assert.Equal([1, 2, 3, 4, 5, 6], batches[0].Targets);
        // Crosses from the first shard (…9) into the second (10…); the last target is token 12.
        Assert.Equal([6, 7, 8, 9, 10, 11], batches[1].Inputs);
        Assert.Equal([7, 8, 9, 10, 11, 12], batches[1].Targets);
    }

    [Fact]
    public void NeedsOneTokenMoreThanItEvaluates()
    {
        using var dir = new TempDir();
        using (var ok = new ValidationSet(ValShards(dir), tokens: 15)) Assert.Equal(5, ok.BatchCount(1, 3));
        var e = Assert.Throws<InvalidDataException>(() => new ValidationSet(ValShards(dir), tokens: 16));
        Assert.Contains($"SPEEDRUN_VAL_FILES pattern '{dir.File("val_*.bin")}' holds 16 tokens", e.Message);
        Assert.Contains("needs 17", e.Message);
    }

    [Fact]
    public void TokenCountMustBeAMultipleOfTheBatch()
    {
        using var dir = new TempDir();
        using var val = new ValidationSet(ValShards(dir), tokens: 10);
        var e = Assert.Throws<ArgumentException>(() => val.BatchCount(2, 3));
        Assert.Contains("10 val tokens is not a multiple of the 6 tokens", e.Message);
    }
}
