using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Speedrun.Core.Data;

namespace Speedrun.Benchmark.Data;

/// <summary>Options of <see cref="DefaultCorpus.Ensure"/>; the defaults build the real default corpus.</summary>
public sealed record DefaultCorpusOptions
{
    /// <summary>XML documentation files to build from; null finds the SDK's (<see cref="SdkDocSources.Find"/>).</summary>
    public IReadOnlyList<string>? SourceFiles { get; init; }
    /// <summary>Cache root; null uses <see cref="DefaultCorpus.DefaultCacheRoot"/>. Corpora go to <c>{root}/corpus/{key}</c>.</summary>
    public string? CacheRoot { get; init; }
    /// <summary>Tokens per shard.</summary>
    public int ShardTokens { get; init; } = DefaultCorpus.DefaultShardTokens;
    /// <summary>Fraction of documents held out for validation.</summary>
    public double ValFraction { get; init; } = DefaultCorpus.DefaultValFraction;
}

/// <summary>
/// The corpus any machine with the .NET SDK can build offline: the English XML documentation of the
/// SDK's reference packs, one documented member per document (duplicates removed: the ASP.NET Core
/// pack repeats most of the base library's files). Documents are split by a hash of their text
/// (<see cref="DocumentSplit"/>) and written in hash order, a fixed shuffle, so a training stream does
/// not walk one namespace at a time. Built on first use into a per-user cache and reused after.
/// </summary>
public static class DefaultCorpus
{
    /// <summary>Bump when the builder would produce different shards from the same sources.</summary>
    public const int BuilderVersion = 1;
    /// <summary>Default tokens per shard (2^22 tokens = 8 MiB): small enough to carry one shard to a
    /// machine without the SDK.</summary>
    public const int DefaultShardTokens = 1 << 22;
    /// <summary>Default val fraction (1/64 of the documents).</summary>
    public const double DefaultValFraction = 1.0 / 64;
    /// <summary>The manifest's <see cref="CorpusManifest.Kind"/>.</summary>
    public const string Kind = "dotnet-xml-docs";

    /// <summary>
    /// The speedrun cache root: <c>$SPEEDRUN_CACHE</c>, else <c>$XDG_CACHE_HOME/speedrun</c>, else
    /// <c>~/.cache/speedrun</c>.
    /// </summary>
    public static string DefaultCacheRoot()
    {
        var explicitRoot = Environment.GetEnvironmentVariable("SPEEDRUN_CACHE");
        if (!string.IsNullOrEmpty(explicitRoot)) return Path.GetFullPath(explicitRoot);
        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        if (!string.IsNullOrEmpty(xdg)) return Path.Combine(Path.GetFullPath(xdg), "speedrun");
        return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "speedrun");
    }

    /// <summary>
    /// Returns the default corpus, building it first if this machine has no complete build for the
    /// current sources and options. Safe when several processes call it at once: each builds into its
    /// own temporary folder and renames it into place; the first rename wins and the others use it.
    /// Progress goes to <paramref name="log"/> (e.g. standard error) while building.
    /// </summary>
    public static CorpusInfo Ensure(DefaultCorpusOptions? options = null, TextWriter? log = null)
    {
        options ??= new DefaultCorpusOptions();
        if (options.ShardTokens < 1) throw new ArgumentOutOfRangeException(nameof(options), "ShardTokens must be positive");
        DocumentSplit.CheckFraction(options.ValFraction);
        var sources = options.SourceFiles ?? SdkDocSources.Find();
        if (sources.Count == 0) throw new ArgumentException("no source files given for the default corpus", nameof(options));

        string corpusRoot = Path.Combine(options.CacheRoot ?? DefaultCacheRoot(), "corpus");
        string key = CacheKey(sources, options);
        string final = Path.Combine(corpusRoot, key);
        if (TryUse(final, log) is { } existing) return existing;

        Directory.CreateDirectory(corpusRoot);
        RemoveAbandonedBuilds(corpusRoot);
        string temp = Path.Combine(corpusRoot, $"{key}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(temp);
        bool builtHere = true;
        try
        {
            var clock = Stopwatch.StartNew();
            log?.WriteLine($"speedrun: building the default corpus from {sources.Count} XML documentation files into {final} (first use)");
            var manifest = Build(temp, sources, options, key, log);
            try
            {
                Directory.Move(temp, final);
            }
            catch (IOException) when (Directory.Exists(final))
            {
                // Another process finished first; its build is identical, use it.
                Directory.Delete(temp, recursive: true);
                builtHere = false;
                log?.WriteLine($"speedrun: another process built {final} first; using it");
            }
            log?.WriteLine($"speedrun: default corpus ready in {clock.Elapsed.TotalSeconds:F1} s: " +
                           $"train {manifest.Train.Tokens:N0} tokens ({manifest.Train.Documents:N0} documents), " +
                           $"val {manifest.Val.Tokens:N0} tokens ({manifest.Val.Documents:N0} documents)");
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
        var built = TryUse(final, log) ?? throw new IOException($"{final}: the corpus build finished but the folder is incomplete");
        return built with { Built = builtHere };
    }

    /// <summary>
    /// Builds the corpus from <paramref name="sources"/> into the existing, empty <paramref name="directory"/>.
    /// <see cref="Ensure"/> calls this on a temporary folder; it is public for tests and tools.
    /// </summary>
    public static CorpusManifest Build(string directory, IReadOnlyList<string> sources, DefaultCorpusOptions options, string key = "", TextWriter? log = null)
    {
        var documents = ReadDocuments(sources, log);
        var hashes = documents.Select(DocumentSplit.StableHash).ToArray();
        var isVal = DocumentSplit.IsVal(hashes, options.ValFraction);
        // Hash order is a fixed shuffle; ties (never seen in practice) fall back to the text.
        var order = Enumerable.Range(0, documents.Count)
            .OrderBy(i => hashes[i]).ThenBy(i => documents[i], StringComparer.Ordinal).ToArray();
        var train = order.Where(i => !isVal[i]).Select(i => documents[i]).ToArray();
        var val = order.Where(i => isVal[i]).Select(i => documents[i]).ToArray();
        log?.WriteLine($"speedrun: {documents.Count:N0} documents ({train.Length:N0} train, {val.Length:N0} val); tokenizing");

        var sourceList = sources.Select(s => new CorpusSource(s, new FileInfo(s).Length)).ToArray();
        return CorpusWriter.Write(directory, train, val, options.ShardTokens,
            (t, v) => new CorpusManifest
            {
                Kind = Kind, BuilderVersion = BuilderVersion, Key = key, ShardTokens = options.ShardTokens,
                ValFraction = options.ValFraction, Sources = sourceList, Train = t, Val = v,
            },
            log is null ? null : new LogProgress(log));
    }

    /// <summary>
    /// The documents of <paramref name="sources"/> in file order (files as given), one per documented
    /// member, skipping a member already seen (by ID) and a text already seen.
    /// </summary>
    public static List<string> ReadDocuments(IReadOnlyList<string> sources, TextWriter? log = null)
    {
        var members = new HashSet<string>(StringComparer.Ordinal);
        var texts = new HashSet<string>(StringComparer.Ordinal);
        var documents = new List<string>();
        int reported = 0;
        for (int f = 0; f < sources.Count; f++)
        {
            foreach (var member in XmlDocText.ReadMembers(sources[f]))
                if (members.Add(member.Name) && texts.Add(member.Text))
                    documents.Add(member.Text);
            int percent = (f + 1) * 100 / sources.Count;
            if (log is not null && percent >= reported + 20)
            {
                reported = percent;
                log.WriteLine($"speedrun: read {f + 1}/{sources.Count} files, {documents.Count:N0} documents");
            }
        }
        return documents;
    }

    /// <summary>The cache folder name for these sources and options: builder version plus a hash of the
    /// source paths and sizes, the shard size and the val fraction.</summary>
    public static string CacheKey(IReadOnlyList<string> sources, DefaultCorpusOptions options)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"{Kind}\n{BuilderVersion}\n{options.ShardTokens}\n{options.ValFraction:R}\n");
        foreach (var s in sources) text.Append(CultureInfo.InvariantCulture, $"{Path.GetFullPath(s)}\t{new FileInfo(s).Length}\n");
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())))[..16];
        return $"{Kind}-v{BuilderVersion}-{hash}";
    }

    // A usable build has a manifest and every shard it lists, each with the length its token count implies.
    static CorpusInfo? TryUse(string directory, TextWriter? log)
    {
        if (!Directory.Exists(directory)) return null;
        string? problem;
        CorpusManifest? manifest = null;
        try
        {
            manifest = CorpusManifest.TryRead(directory);
            problem = manifest is null ? "it has no manifest" : MissingShard(directory, manifest);
        }
        catch (InvalidDataException e)
        {
            problem = e.Message;
        }
        if (problem is null) return new CorpusInfo(directory, manifest!, Built: false);

        // Only a rename creates this folder, so damage came from outside; move it away and rebuild.
        log?.WriteLine($"speedrun: the cached corpus {directory} is damaged ({problem}); rebuilding it");
        string aside = $"{directory}.damaged-{Guid.NewGuid():N}";
        try { Directory.Move(directory, aside); } catch (IOException) { return null; }
        TryDelete(aside);
        return null;
    }

    static string? MissingShard(string directory, CorpusManifest manifest)
    {
        foreach (var shard in manifest.Train.Shards.Concat(manifest.Val.Shards))
        {
            var info = new FileInfo(Path.Combine(directory, shard.File));
            if (!info.Exists) return $"{shard.File} is missing";
            if (info.Length != ShardFormat.FileLength(shard.Tokens)) return $"{shard.File} has {info.Length} bytes, expected {ShardFormat.FileLength(shard.Tokens)}";
        }
        return null;
    }

    // Temporary folders of builds that crashed; a day-old one is certainly not being written any more.
    static void RemoveAbandonedBuilds(string corpusRoot)
    {
        foreach (var dir in Directory.GetDirectories(corpusRoot))
        {
            var name = Path.GetFileName(dir);
            if ((name.Contains(".tmp-", StringComparison.Ordinal) || name.Contains(".damaged-", StringComparison.Ordinal))
                && Directory.GetLastWriteTimeUtc(dir) < DateTime.UtcNow.AddDays(-1))
                TryDelete(dir);
        }
    }

    static void TryDelete(string dir)
    {
        try { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); }
        catch (IOException) { } // best effort: a leftover folder only costs disk space
        catch (UnauthorizedAccessException) { }
    }

    sealed class LogProgress(TextWriter log) : IProgress<DataBuildProgress>
    {
        long _lastPercent = -1;

        public void Report(DataBuildProgress value)
        {
            long percent = value.Total == 0 ? 100 : value.Done * 100 / value.Total;
            if (percent < _lastPercent + 10 && value.Done != value.Total) return;
            _lastPercent = percent;
            log.WriteLine($"speedrun: {value.Stage} {value.Done:N0}/{value.Total:N0} documents ({percent}%), {value.Tokens:N0} tokens");
        }
    }
}
