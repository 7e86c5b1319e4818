using Speedrun.Benchmark.Data;
using Speedrun.Core.Data;
using Speedrun.Tests.Shared;

namespace Speedrun.Benchmark.Tests.Data;

public class DefaultCorpusTests
{
    // A fake reference pack: two documentation files; the second repeats one member (as the ASP.NET
    // Core pack repeats the base library's files) and one text under another member name.
    static IReadOnlyList<string> FakeDocs(TempDir dir)
    {
        var src = Directory.CreateDirectory(Path.Combine(dir.Path, "src")).FullName;
        var a = string.Join("\n", Enumerable.Range(0, 40).Select(i =>
            $"<member name=\"M:Fake.A.M{i}\"><summary>Method number {i} of class A does thing {i * 7}.</summary><returns>Value {i}.</returns></member>"));
        File.WriteAllText(Path.Combine(src, "Fake.A.xml"), $"<?xml version=\"1.0\"?><doc><members>{a}</members></doc>");
        File.WriteAllText(Path.Combine(src, "Fake.B.xml"), """
            <?xml version="1.0"?><doc><members>
              <member name="M:Fake.A.M0"><summary>Method number 0 of class A does thing 0.</summary><returns>Value 0.</returns></member>
              <member name="M:Fake.B.Copy"><summary>Method number 1 of class A does thing 7.</summary><returns>Value 1.</returns></member>
              <member name="T:Fake.B"><summary>The B type, with <see cref="T:Fake.A"/>.</summary></member>
            </members></doc>
            """);
        return [Path.Combine(src, "Fake.A.xml"), Path.Combine(src, "Fake.B.xml")];
    }

    static DefaultCorpusOptions Options(IReadOnlyList<string> sources, string cache) =>
        new() { SourceFiles = sources, CacheRoot = cache, ShardTokens = 100, ValFraction = 0.1 };

    static byte[][] ShardBytes(CorpusInfo info) =>
        Directory.GetFiles(info.Directory, "*.bin").Order(StringComparer.Ordinal).Select(File.ReadAllBytes).ToArray();

    [Fact]
    public void BuildsDeterministicallyAndSplitsTrainAndVal()
    {
        using var dir = new TempDir();
        var sources = FakeDocs(dir);
        var log = new StringWriter();
        var first = DefaultCorpus.Ensure(Options(sources, dir.File("cache1")), log);
        var second = DefaultCorpus.Ensure(Options(sources, dir.File("cache2")));

        Assert.True(first.Built);
        Assert.Contains("building the default corpus", log.ToString());
        // 40 members of A + T:Fake.B; the repeated member and the repeated text are dropped.
        Assert.Equal(41, first.Manifest.Train.Documents + first.Manifest.Val.Documents);
        Assert.Equal(5, first.Manifest.Val.Documents); // ⌈41 × 0.1⌉
        Assert.Equal(36, first.Manifest.Train.Documents);
        Assert.True(first.Manifest.Train.Shards.Count > 1); // 100-token shards
        Assert.All(first.Manifest.Train.Shards.SkipLast(1), s => Assert.Equal(100, s.Tokens));

        var a = ShardBytes(first);
        var b = ShardBytes(second);
        Assert.Equal(a.Length, b.Length);
        for (int i = 0; i < a.Length; i++) Assert.Equal(a[i], b[i]);
        Assert.Equal(File.ReadAllText(Path.Combine(first.Directory, "manifest.json")), File.ReadAllText(Path.Combine(second.Directory, "manifest.json")));
    }

    [Fact]
    public void ShardsHoldEveryDocumentOnceAfterAnEndOfText()
    {
        using var dir = new TempDir();
        var info = DefaultCorpus.Ensure(Options(FakeDocs(dir), dir.File("cache")));
        string Text(string pattern)
        {
            var tokens = new List<int>();
            foreach (var file in ShardSet.Resolve(pattern).Files)
            {
                using var shard = ShardFile.Open(file);
                foreach (var t in shard.Tokens) tokens.Add(t);
            }
            return Gpt2Tokenizer.Shared.Decode(tokens);
        }
        var train = Text(info.TrainPattern).Split("<|endoftext|>");
        var val = Text(info.ValPattern).Split("<|endoftext|>");
        Assert.Equal("", train[0]); // every document starts with end-of-text
        Assert.Equal("", val[0]);
        var docs = train.Skip(1).Concat(val.Skip(1)).ToList();
        Assert.Equal(41, docs.Count);
        Assert.Equal(41, docs.Distinct().Count());
        Assert.Contains("Method number 3 of class A does thing 21.\nReturns: Value 3.", docs);
        Assert.Contains("The B type, with A.", docs);
        Assert.Empty(train.Intersect(val.Skip(1)));
        Assert.Equal(info.TrainTokens, ShardSet.Resolve(info.TrainPattern).ReadHeaders().Sum(h => (long)h.TokenCount));
    }

    [Fact]
    public void SecondCallReusesTheBuild()
    {
        using var dir = new TempDir();
        var sources = FakeDocs(dir);
        var first = DefaultCorpus.Ensure(Options(sources, dir.File("cache")));
        var stamp = File.GetLastWriteTimeUtc(Path.Combine(first.Directory, "manifest.json"));
        var again = DefaultCorpus.Ensure(Options(sources, dir.File("cache")));
        Assert.False(again.Built);
        Assert.Equal(first.Directory, again.Directory);
        Assert.Equal(stamp, File.GetLastWriteTimeUtc(Path.Combine(again.Directory, "manifest.json")));
    }

    [Fact]
    public async Task ConcurrentFirstUseBuildsOnceAndBothGetAValidCorpus()
    {
        using var dir = new TempDir();
        var sources = FakeDocs(dir);
        var results = await Task.WhenAll(
            Task.Run(() => DefaultCorpus.Ensure(Options(sources, dir.File("cache")))),
            Task.Run(() => DefaultCorpus.Ensure(Options(sources, dir.File("cache")))));
        Assert.Equal(results[0].Directory, results[1].Directory);
        Assert.Single(results, r => r.Built);
        Assert.Single(Directory.GetDirectories(Path.Combine(dir.File("cache"), "corpus"))); // no temp folder left
        foreach (var f in ShardSet.Resolve(results[0].TrainPattern).Files) ShardFormat.ReadHeader(f);
    }

    [Fact]
    public void DamagedBuildIsRebuilt()
    {
        using var dir = new TempDir();
        var sources = FakeDocs(dir);
        var first = DefaultCorpus.Ensure(Options(sources, dir.File("cache")));
        File.Delete(Path.Combine(first.Directory, first.Manifest.Train.Shards[0].File));
        var log = new StringWriter();
        var again = DefaultCorpus.Ensure(Options(sources, dir.File("cache")), log);
        Assert.True(again.Built);
        Assert.Contains("damaged", log.ToString());
        Assert.True(File.Exists(Path.Combine(again.Directory, first.Manifest.Train.Shards[0].File)));
    }

    [Fact]
    public void CacheKeyChangesWithOptions()
    {
        using var dir = new TempDir();
        var sources = FakeDocs(dir);
        var o = Options(sources, dir.Path);
        Assert.Equal(DefaultCorpus.CacheKey(sources, o), DefaultCorpus.CacheKey(sources, o with { }));
        Assert.NotEqual(DefaultCorpus.CacheKey(sources, o), DefaultCorpus.CacheKey(sources, o with { ShardTokens = 101 }));
        Assert.NotEqual(DefaultCorpus.CacheKey(sources, o), DefaultCorpus.CacheKey(sources.Take(1).ToArray(), o));
        Assert.StartsWith("dotnet-xml-docs-v1-", DefaultCorpus.CacheKey(sources, o));
    }

    [Fact]
    public void FindsTheHighestVersionOfEachReferencePack()
    {
        using var dir = new TempDir();
        string packs = dir.File("packs");
        void Doc(string relative)
        {
            var path = Path.Combine(packs, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, "<doc/>");
        }
        Doc("Microsoft.NETCore.App.Ref/9.0.1/ref/net9.0/Old.xml");
        Doc("Microsoft.NETCore.App.Ref/10.0.9/ref/net10.0/Nine.xml");
        Doc("Microsoft.NETCore.App.Ref/10.0.12/ref/net10.0/System.Runtime.xml");
        Doc("Microsoft.NETCore.App.Ref/10.0.12/ref/net10.0/de/System.Runtime.xml"); // localized: not taken
        Doc("Microsoft.NETCore.App.Ref/11.0.0-preview.1/ref/net11.0/Preview.xml"); // prerelease of a higher version wins over 10.x
        Doc("Microsoft.AspNetCore.App.Ref/10.0.12/ref/net9.0/Lower.xml");
        Doc("Microsoft.AspNetCore.App.Ref/10.0.12/ref/net10.0/Microsoft.AspNetCore.Http.xml");
        Doc("Microsoft.NETCore.App.Host.linux-x64/10.0.12/runtimes/Host.xml"); // not a reference pack
        var found = SdkDocSources.FindInPacks(packs).Select(f => Path.GetRelativePath(packs, f).Replace('\\', '/'));
        Assert.Equal(
            ["Microsoft.AspNetCore.App.Ref/10.0.12/ref/net10.0/Microsoft.AspNetCore.Http.xml",
             "Microsoft.NETCore.App.Ref/11.0.0-preview.1/ref/net11.0/Preview.xml"],
            found);
    }

    [Fact]
    public void FindsThisMachinesSdkDocumentation()
    {
        // dotnet test runs on the SDK, so its reference packs are here.
        var files = SdkDocSources.Find();
        Assert.Contains(files, f => f.Replace('\\', '/').Contains("/Microsoft.NETCore.App.Ref/", StringComparison.Ordinal));
        Assert.All(files, f => Assert.EndsWith(".xml", f));
    }

    [Fact]
    public void BuildsFromRealSdkFilesAndDropsTheAspNetCopies()
    {
        // A subset of the real corpus: System.Collections.xml is shipped in both the base and the ASP.NET
        // Core reference packs; the copy must add no documents.
        var collections = SdkDocSources.Find().Where(f => Path.GetFileName(f) == "System.Collections.xml").ToArray();
        Assert.NotEmpty(collections);
        using var dir = new TempDir();
        var one = DefaultCorpus.Ensure(new DefaultCorpusOptions { SourceFiles = collections[..1], CacheRoot = dir.File("one") });
        var all = DefaultCorpus.Ensure(new DefaultCorpusOptions { SourceFiles = collections, CacheRoot = dir.File("all") });
        Assert.True(one.TrainTokens > 10_000);
        Assert.True(one.ValTokens > 0);
        Assert.Equal(one.TrainTokens, all.TrainTokens);
        Assert.Equal(one.Manifest.Train.Documents + one.Manifest.Val.Documents, all.Manifest.Train.Documents + all.Manifest.Val.Documents);
    }
}
