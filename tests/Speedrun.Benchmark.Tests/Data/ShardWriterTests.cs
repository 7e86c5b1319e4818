using Speedrun.Benchmark.Data;
using Speedrun.Core.Data;
using Speedrun.Tests.Shared;

namespace Speedrun.Benchmark.Tests.Data;

/// <summary>The shard writers (building corpora): the documented layout, read back with the engine's reader.</summary>
public class ShardWriterTests
{
    [Fact]
    public void WriterProducesTheDocumentedLayoutAndReaderReadsItBack()
    {
        using var dir = new TempDir();
        var path = dir.File("fineweb_train_000001.bin");
        ushort[] tokens = [0, 1, 50256, 65535, 12345];
        ShardWriter.WriteAll(path, tokens);

        var bytes = File.ReadAllBytes(path);
        Assert.Equal(1024 + 2 * 5, bytes.Length);
        // 20240520 = 0x0134D888, little-endian; version 1; count 5; the other 253 words zero.
        Assert.Equal(new byte[] { 0x88, 0xD8, 0x34, 0x01, 1, 0, 0, 0, 5, 0, 0, 0 }, bytes[..12]);
        Assert.All(bytes[12..1024], b => Assert.Equal(0, b));
        // 50256 = 0xC450, 65535 = 0xFFFF, 12345 = 0x3039, little-endian.
        Assert.Equal(new byte[] { 0, 0, 1, 0, 0x50, 0xC4, 0xFF, 0xFF, 0x39, 0x30 }, bytes[1024..]);

        using var shard = ShardFile.Open(path);
        Assert.Equal(5, shard.TokenCount);
        Assert.Equal(tokens, shard.Tokens.ToArray());
        Assert.Equal(5, ShardFormat.ReadHeader(path).TokenCount);
    }

    [Fact]
    public void EmptyShardRoundTrips()
    {
        using var dir = new TempDir();
        var path = dir.File("empty.bin");
        ShardWriter.WriteAll(path, ReadOnlySpan<ushort>.Empty);
        Assert.Equal(1024, new FileInfo(path).Length);
        using var shard = ShardFile.Open(path);
        Assert.Equal(0, shard.TokenCount);
        Assert.True(shard.Tokens.IsEmpty);
    }

    [Fact]
    public void UncommittedWriterLeavesNothingBehind()
    {
        using var dir = new TempDir();
        var path = dir.File("crash.bin");
        using (var writer = new ShardWriter(path))
        {
            writer.Write(new ushort[] { 1, 2, 3 });
            Assert.False(File.Exists(path)); // nothing under the final name while writing
        }
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path));
    }

    [Fact]
    public void CommitReplacesAnExistingShard()
    {
        using var dir = new TempDir();
        var path = dir.File("s.bin");
        ShardWriter.WriteAll(path, new ushort[] { 1, 2, 3 });
        ShardWriter.WriteAll(path, new ushort[] { 9 });
        using var shard = ShardFile.Open(path);
        Assert.Equal(new ushort[] { 9 }, shard.Tokens.ToArray());
        Assert.Single(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void WriterRejectsTokensThatDoNotFitUInt16()
    {
        using var dir = new TempDir();
        using var writer = new ShardWriter(dir.File("x.bin"));
        Assert.Throws<ArgumentOutOfRangeException>(() => writer.Write(new[] { 1, 65536 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => writer.Write(new[] { -1 }));
    }

    [Fact]
    public void SequenceWriterCutsTheStreamIntoNumberedShards()
    {
        using var dir = new TempDir();
        using var writer = new ShardSequenceWriter(dir.Path, "train", shardTokens: 4);
        writer.Write(Enumerable.Range(0, 3).ToArray());
        writer.Write(Enumerable.Range(3, 7).ToArray()); // 10 tokens in all → 4 + 4 + 2
        var shards = writer.Complete();

        Assert.Equal(new[] { new ShardEntry("train_000000.bin", 4), new ShardEntry("train_000001.bin", 4), new ShardEntry("train_000002.bin", 2) }, shards);
        ushort[][] expected = [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]];
        for (int i = 0; i < 3; i++)
        {
            using var shard = ShardFile.Open(dir.File(shards[i].File));
            Assert.Equal(expected[i], shard.Tokens.ToArray());
        }
        Assert.Equal(3, Directory.GetFiles(dir.Path).Length);
    }

    [Fact]
    public void SequenceWriterWritesNoShardForNoTokens()
    {
        using var dir = new TempDir();
        using var writer = new ShardSequenceWriter(dir.Path, "val", shardTokens: 4);
        Assert.Empty(writer.Complete());
        Assert.Empty(Directory.GetFiles(dir.Path));
    }
}
