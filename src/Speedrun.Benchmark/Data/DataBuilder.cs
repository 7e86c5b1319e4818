namespace Speedrun.Benchmark.Data;

/// <summary>Builds train/val shards from a user's own text.</summary>
public static class DataBuilder
{
    /// <summary>The manifest's <see cref="CorpusManifest.Kind"/> for a text-folder build.</summary>
    public const string Kind = "text-folder";
    /// <summary>Bump when the builder would produce different shards from the same input.</summary>
    public const int BuilderVersion = 1;

    /// <summary>
    /// Every <c>.txt</c> and <c>.md</c> file under <paramref name="inputDir"/> (recursive, ordinal order of
    /// the relative path) is one document: read as UTF-8, stored as end-of-text + its GPT-2 tokens.
    /// Whitespace-only files are skipped. The val documents are chosen by a hash of each file's relative
    /// path (<see cref="DocumentSplit"/>); both splits keep the file order. Writes <c>train_NNNNNN.bin</c>,
    /// <c>val_NNNNNN.bin</c> and <c>manifest.json</c> into <paramref name="outDir"/>.
    /// </summary>
    /// <param name="inputDir">Folder of text files.</param>
    /// <param name="outDir">Output folder; created if missing. If it already holds shards, the build stops
    /// unless <paramref name="overwrite"/> is true (stale shards would otherwise be globbed with the new ones).</param>
    /// <param name="valFraction">Fraction of documents held out for validation, 0 ≤ f &lt; 1.</param>
    /// <param name="shardTokens">Tokens per shard.</param>
    /// <param name="progress">Optional progress reports.</param>
    /// <param name="overwrite">Delete existing <c>train_*.bin</c>/<c>val_*.bin</c> shards in <paramref name="outDir"/> first.</param>
    public static CorpusInfo BuildFromTextFolder(string inputDir, string outDir, double valFraction, int shardTokens,
        IProgress<DataBuildProgress>? progress = null, bool overwrite = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(inputDir);
        ArgumentException.ThrowIfNullOrEmpty(outDir);
        DocumentSplit.CheckFraction(valFraction);
        ArgumentOutOfRangeException.ThrowIfLessThan(shardTokens, 1);
        inputDir = Path.GetFullPath(inputDir);
        outDir = Path.GetFullPath(outDir);
        if (!Directory.Exists(inputDir))
            throw new DirectoryNotFoundException($"input folder '{inputDir}' does not exist");

        var files = Directory.EnumerateFiles(inputDir, "*", SearchOption.AllDirectories)
            .Where(f => f.EndsWith(".txt", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".md", StringComparison.OrdinalIgnoreCase))
            .Select(f => (Full: f, Relative: Path.GetRelativePath(inputDir, f).Replace('\\', '/')))
            .OrderBy(f => f.Relative, StringComparer.Ordinal)
            .ToArray();
        if (files.Length == 0)
            throw new FileNotFoundException($"input folder '{inputDir}' has no .txt or .md files (searched recursively)");

        var documents = new List<(string Relative, string Text)>();
        var sources = new List<CorpusSource>();
        for (int i = 0; i < files.Length; i++)
        {
            var text = File.ReadAllText(files[i].Full);
            sources.Add(new CorpusSource(files[i].Relative, new FileInfo(files[i].Full).Length));
            if (!string.IsNullOrWhiteSpace(text)) documents.Add((files[i].Relative, text));
            progress?.Report(new DataBuildProgress("reading", i + 1, files.Length, 0));
        }
        if (documents.Count == 0)
            throw new InvalidDataException($"every .txt/.md file under '{inputDir}' is empty");

        PrepareOutput(outDir, overwrite);
        var isVal = DocumentSplit.IsVal(documents.Select(d => DocumentSplit.StableHash(d.Relative)).ToArray(), valFraction);
        var train = documents.Where((_, i) => !isVal[i]).Select(d => d.Text).ToArray();
        var val = documents.Where((_, i) => isVal[i]).Select(d => d.Text).ToArray();
        var manifest = CorpusWriter.Write(outDir, train, val, shardTokens,
            (t, v) => new CorpusManifest
            {
                Kind = Kind, BuilderVersion = BuilderVersion, ShardTokens = shardTokens, ValFraction = valFraction,
                Sources = sources, Train = t, Val = v,
            },
            progress);
        return new CorpusInfo(outDir, manifest, Built: true);
    }

    static void PrepareOutput(string outDir, bool overwrite)
    {
        Directory.CreateDirectory(outDir);
        var existing = Directory.GetFiles(outDir, $"{CorpusWriter.TrainPrefix}_*.bin")
            .Concat(Directory.GetFiles(outDir, $"{CorpusWriter.ValPrefix}_*.bin")).ToArray();
        if (existing.Length == 0) return;
        if (!overwrite)
            throw new IOException(
                $"output folder '{outDir}' already holds {existing.Length} shard(s) such as '{Path.GetFileName(existing[0])}'; " +
                "choose an empty folder or allow overwriting (old shards would otherwise mix with the new ones)");
        foreach (var f in existing) File.Delete(f);
        File.Delete(Path.Combine(outDir, CorpusManifest.FileName));
    }
}
