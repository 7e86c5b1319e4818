using Speedrun.Core.Data;
using Speedrun.Tests.Shared;

namespace Speedrun.Core.Tests.Data;

/// <summary>The shard reader, on shards written byte by byte (the writer is the harness's, tested in
/// Speedrun.Benchmark.Tests).</summary>
public class ShardFileTests
{
    [Fact]
    public void ReaderReadsAHandWrittenShard()
    {
        using var dir = new TempDir();
        var path = dir.File("hand.bin");
        RawShard.Write(path, 7, 8, 9);
        using var shard = ShardFile.Open(path);
        Assert.Equal(new ushort[] { 7, 8, 9 }, shard.Tokens.ToArray());
    }

    [Fact]
    public void WrongMagicIsRefusedNamingTheFile()
    {
        using var dir = new TempDir();
        var path = dir.File("fineweb_val_000000.bin");
        RawShard.Write(path, 12345, 1, 3, RawShard.Range(0, 3));
        var e = Assert.Throws<ShardFormatException>(() => ShardFile.Open(path));
        Assert.Contains("fineweb_val_000000.bin", e.Message);
        Assert.Contains("magic is 12345, expected 20240520", e.Message);
        Assert.Contains("not a speedrun shard", e.Message);
        Assert.Equal(path, e.FilePath);
        Assert.Equal(ShardProblem.WrongMagic, e.Kind);
    }

    [Fact]
    public void WrongVersionIsRefusedNamingTheFile()
    {
        using var dir = new TempDir();
        var path = dir.File("v2.bin");
        RawShard.Write(path, 20240520, 2, 3, RawShard.Range(0, 3));
        var e = Assert.Throws<ShardFormatException>(() => ShardFile.Open(path));
        Assert.Contains("v2.bin", e.Message);
        Assert.Contains("version is 2, expected 1", e.Message);
        Assert.Equal(ShardProblem.WrongVersion, e.Kind);
    }

    [Fact]
    public void TruncatedBodyIsRefusedWithBothSizes()
    {
        using var dir = new TempDir();
        var path = dir.File("short.bin");
        RawShard.Write(path, 20240520, 1, 100, RawShard.Range(0, 50));
        var e = Assert.Throws<ShardFormatException>(() => ShardFile.Open(path));
        Assert.Contains("short.bin", e.Message);
        // 1024 + 2·100 = 1224 expected; 1024 + 2·50 = 1124 present.
        Assert.Contains("truncated: header says 100 tokens (1224 bytes) but the file has 1124 bytes", e.Message);
        Assert.Contains("re-download", e.Message);
        Assert.Equal(ShardProblem.Truncated, e.Kind);
    }

    [Fact]
    public void ExtraBytesAreRefused()
    {
        using var dir = new TempDir();
        var path = dir.File("long.bin");
        RawShard.Write(path, 20240520, 1, 2, RawShard.Range(0, 3));
        var e = Assert.Throws<ShardFormatException>(() => ShardFile.Open(path));
        Assert.Contains("header says 2 tokens (1028 bytes) but the file has 1030 bytes, 2 too many", e.Message);
        Assert.Equal(ShardProblem.TooLong, e.Kind);
    }

    [Fact]
    public void FileShorterThanTheHeaderIsRefused()
    {
        using var dir = new TempDir();
        var path = dir.File("tiny.bin");
        File.WriteAllBytes(path, new byte[10]);
        var e = Assert.Throws<ShardFormatException>(() => ShardFile.Open(path));
        Assert.Contains("tiny.bin", e.Message);
        Assert.Contains("10 bytes, fewer than the 1024-byte shard header", e.Message);
        Assert.Equal(ShardProblem.NoHeader, e.Kind);
    }

    [Fact]
    public void NegativeCountIsRefused()
    {
        using var dir = new TempDir();
        var path = dir.File("neg.bin");
        RawShard.Write(path, 20240520, 1, -5, []);
        var e = Assert.Throws<ShardFormatException>(() => ShardFile.Open(path));
        Assert.Contains("header says -5 tokens", e.Message);
        Assert.Equal(ShardProblem.NegativeCount, e.Kind);
    }

    [Fact]
    public void EmptyFileIsRefused()
    {
        using var dir = new TempDir();
        var path = dir.File("zero.bin");
        File.WriteAllBytes(path, []);
        var e = Assert.Throws<ShardFormatException>(() => ShardFile.Open(path));
        Assert.Contains("0 bytes", e.Message);
    }
}
