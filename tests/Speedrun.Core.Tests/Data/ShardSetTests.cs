using Speedrun.Core.Data;
using Speedrun.Tests.Shared;

namespace Speedrun.Core.Tests.Data;

public class ShardSetTests
{
    [Fact]
    public void GlobMatchesFileNamesAndSortsOrdinally()
    {
        using var dir = new TempDir();
        foreach (var name in new[] { "train_b.bin", "train_a.bin", "train_a10.bin", "train_a2.bin", "train_A.bin", "train_a.txt", "val_a.bin" })
            File.WriteAllText(dir.File(name), "");
        var set = ShardSet.Resolve(dir.File("train_*.bin"));
        // Ordinal: 'A' (65) < 'a' (97); "a.bin" < "a10" < "a2" since '.' (46) < '1' (49) < '2' (50).
        Assert.Equal(new[] { "train_A.bin", "train_a.bin", "train_a10.bin", "train_a2.bin", "train_b.bin" }, set.Files.Select(Path.GetFileName));
        Assert.All(set.Files, f => Assert.True(Path.IsPathFullyQualified(f)));

        var question = ShardSet.Resolve(dir.File("train_a?.bin"));
        Assert.Equal(new[] { "train_a2.bin" }, question.Files.Select(Path.GetFileName));
    }

    [Fact]
    public void PatternWithoutWildcardsNamesOneFile()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("val_000000.bin"), "");
        Assert.Single(ShardSet.Resolve(dir.File("val_000000.bin")).Files);
    }

    [Fact]
    public void EmptyGlobNamesThePatternAndItsSource()
    {
        using var dir = new TempDir();
        var pattern = dir.File("train_*.bin");
        var e = Assert.Throws<FileNotFoundException>(() => ShardSet.Resolve(pattern, "SPEEDRUN_TRAIN_FILES"));
        Assert.Contains($"SPEEDRUN_TRAIN_FILES pattern '{pattern}' matched no files", e.Message);
    }

    [Fact]
    public void MissingFolderIsNamed()
    {
        using var dir = new TempDir();
        var pattern = Path.Combine(dir.Path, "nope", "val_*.bin");
        var e = Assert.Throws<FileNotFoundException>(() => ShardSet.Resolve(pattern, "SPEEDRUN_VAL_FILES"));
        Assert.Contains($"SPEEDRUN_VAL_FILES pattern '{pattern}' matched no files", e.Message);
        Assert.Contains("does not exist", e.Message);
    }

    [Fact]
    public void WildcardsInFolderNamesAreRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => ShardSet.Resolve("/data/*/train_*.bin"));
        Assert.Contains("only supported in the file name", e.Message);
    }
}
