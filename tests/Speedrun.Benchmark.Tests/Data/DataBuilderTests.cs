using Speedrun.Benchmark.Data;
using Speedrun.Core.Data;
using Speedrun.Tests.Shared;

namespace Speedrun.Benchmark.Tests.Data;

public class DataBuilderTests
{
    static string Input(TempDir dir)
    {
        var input = Directory.CreateDirectory(dir.File("input")).FullName;
        File.WriteAllText(Path.Combine(input, "b.txt"), "Hello world");
        Directory.CreateDirectory(Path.Combine(input, "sub"));
        File.WriteAllText(Path.Combine(input, "sub", "a.md"), "hello world");
        File.WriteAllText(Path.Combine(input, "a.txt"), " Hello world");
        File.WriteAllText(Path.Combine(input, "empty.txt"), "  \n");
        File.WriteAllText(Path.Combine(input, "ignored.json"), "{\"not\": \"text\"}");
        return input;
    }

    static List<int> Tokens(string pattern)
    {
        var tokens = new List<int>();
        foreach (var f in ShardSet.Resolve(pattern).Files)
        {
            using var shard = ShardFile.Open(f);
            foreach (var t in shard.Tokens) tokens.Add(t);
        }
        return tokens;
    }

    [Fact]
    public void EveryTextFileIsOneDocumentInFileOrder()
    {
        using var dir = new TempDir();
        var info = DataBuilder.BuildFromTextFolder(Input(dir), dir.File("out"), valFraction: 0, shardTokens: 1000);
        // Ordinal order of relative paths: a.txt, b.txt, sub/a.md (empty.txt skipped, .json ignored).
        // Ids from the published examples in Gpt2TokenizerTests: " Hello world", "Hello world", "hello world".
        Assert.Equal([50256, 18435, 995, 50256, 15496, 995, 50256, 31373, 995], Tokens(info.TrainPattern));
        Assert.Equal(3, info.Manifest.Train.Documents);
        Assert.Equal(9, info.TrainTokens);
        Assert.Equal(0, info.Manifest.Val.Documents);
        Assert.Empty(Directory.GetFiles(info.Directory, "val_*.bin"));
        Assert.Equal(["a.txt", "b.txt", "empty.txt", "sub/a.md"], info.Manifest.Sources.Select(s => s.Path));
    }

    [Fact]
    public void ValFractionHoldsOutWholeDocumentsAndShardsAreCut()
    {
        using var dir = new TempDir();
        var info = DataBuilder.BuildFromTextFolder(Input(dir), dir.File("out"), valFraction: 0.3, shardTokens: 4);
        Assert.Equal(1, info.Manifest.Val.Documents); // ⌈3 × 0.3⌉
        Assert.Equal(2, info.Manifest.Train.Documents);
        var val = Tokens(info.ValPattern);
        var train = Tokens(info.TrainPattern);
        Assert.Equal(3, val.Count);
        Assert.Equal(6, train.Count);
        Assert.Equal(2, info.Manifest.Train.Shards.Count); // 4 + 2 tokens
        Assert.Equal(50256, val[0]);
        // The three documents, each 3 tokens, are split between the two sets without loss.
        var all = new[] { train[..3], train[3..], val }.Select(d => string.Join(",", d)).Order().ToArray();
        Assert.Equal(["50256,15496,995", "50256,18435,995", "50256,31373,995"], all);
    }

    [Fact]
    public void RefusesToMixWithExistingShardsUnlessAllowed()
    {
        using var dir = new TempDir();
        var input = Input(dir);
        DataBuilder.BuildFromTextFolder(input, dir.File("out"), 0, 4);
        Assert.True(File.Exists(dir.File("out/train_000002.bin")));
        var e = Assert.Throws<IOException>(() => DataBuilder.BuildFromTextFolder(input, dir.File("out"), 0, 1000));
        Assert.Contains(dir.File("out"), e.Message);
        Assert.Contains("already holds", e.Message);
        var info = DataBuilder.BuildFromTextFolder(input, dir.File("out"), 0, 1000, overwrite: true);
        Assert.Equal(["train_000000.bin"], Directory.GetFiles(info.Directory, "*.bin").Select(Path.GetFileName));
    }

    [Fact]
    public void MissingOrEmptyInputIsNamed()
    {
        using var dir = new TempDir();
        var e1 = Assert.Throws<DirectoryNotFoundException>(() => DataBuilder.BuildFromTextFolder(dir.File("nope"), dir.File("out"), 0, 10));
        Assert.Contains(dir.File("nope"), e1.Message);
        Directory.CreateDirectory(dir.File("blank"));
        var e2 = Assert.Throws<FileNotFoundException>(() => DataBuilder.BuildFromTextFolder(dir.File("blank"), dir.File("out"), 0, 10));
        Assert.Contains("has no .txt or .md files", e2.Message);
    }

    [Fact]
    public void ReportsProgress()
    {
        using var dir = new TempDir();
        var reports = new List<DataBuildProgress>();
        DataBuilder.BuildFromTextFolder(Input(dir), dir.File("out"), 0, 1000, new SyncProgress(reports.Add));
        Assert.Contains(reports, r => r is { Stage: "reading", Done: 4, Total: 4 });
        Assert.Contains(reports, r => r is { Stage: "tokenizing", Done: 3, Total: 3, Tokens: 9 });
    }

    sealed class SyncProgress(Action<DataBuildProgress> report) : IProgress<DataBuildProgress>
    {
        public void Report(DataBuildProgress value) => report(value);
    }
}
