using System.IO.Enumeration;

namespace Speedrun.Core.Data;

/// <summary>
/// The shard files a glob pattern such as <c>/data/fineweb_train_*.bin</c> names, sorted by ordinal
/// name as the records sort <c>glob</c> output (every rank must see the same order).
/// <c>*</c> and <c>?</c> are allowed in the file-name part only.
/// </summary>
public sealed class ShardSet
{
    ShardSet(string pattern, string? source, IReadOnlyList<string> files)
    {
        Pattern = pattern;
        Source = source;
        Files = files;
    }

    /// <summary>The pattern as given.</summary>
    public string Pattern { get; }

    /// <summary>Where the pattern came from (e.g. <c>SPEEDRUN_TRAIN_FILES</c>), for messages; may be null.</summary>
    public string? Source { get; }

    /// <summary>Full paths of the matching files, ordinal-sorted; never empty.</summary>
    public IReadOnlyList<string> Files { get; }

    /// <summary>"SPEEDRUN_TRAIN_FILES pattern '/x/train_*.bin'", or "shard pattern '…'" without a source.</summary>
    public string Description => $"{Source ?? "shard"} pattern '{Pattern}'";

    /// <summary>
    /// Expands <paramref name="pattern"/>. Throws <see cref="FileNotFoundException"/> naming the pattern
    /// (and <paramref name="source"/>, e.g. the environment variable it came from) when nothing matches.
    /// A leading <c>~/</c> means the home folder; a relative pattern is relative to the current folder.
    /// </summary>
    public static ShardSet Resolve(string pattern, string? source = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(pattern);
        string prefix = source is null ? "shard pattern" : $"{source} pattern";
        string expanded = ExpandHome(pattern);
        string full = Path.GetFullPath(expanded);
        string directory = Path.GetDirectoryName(full) ?? full;
        string namePattern = Path.GetFileName(full);
        if (directory.IndexOfAny(['*', '?']) >= 0)
            throw new ArgumentException(
                $"{prefix} '{pattern}': wildcards are only supported in the file name, not in folder names", nameof(pattern));
        if (namePattern.Length == 0)
            throw new ArgumentException($"{prefix} '{pattern}' names a folder; add a file pattern such as '*.bin'", nameof(pattern));
        if (!Directory.Exists(directory))
            throw new FileNotFoundException(
                $"{prefix} '{pattern}' matched no files: the folder '{directory}' does not exist. " +
                "Check the path, or create shards with `speedrun data build` or `speedrun data fineweb`.", pattern);

        var files = new List<string>();
        foreach (var file in Directory.EnumerateFiles(directory))
        {
            // Simple * and ? matching, case-sensitive, with none of Directory.GetFiles' 8.3-name quirks.
            if (FileSystemName.MatchesSimpleExpression(namePattern, Path.GetFileName(file), ignoreCase: false))
                files.Add(file);
        }
        if (files.Count == 0)
            throw new FileNotFoundException(
                $"{prefix} '{pattern}' matched no files in '{directory}'. " +
                "Check the pattern, or create shards with `speedrun data build` or `speedrun data fineweb`.", pattern);
        files.Sort(StringComparer.Ordinal);
        return new ShardSet(pattern, source, files);
    }

    /// <summary>A set made of explicit files, kept in the given order (they must exist).</summary>
    public static ShardSet FromFiles(IReadOnlyList<string> files, string? source = null)
    {
        ArgumentNullException.ThrowIfNull(files);
        if (files.Count == 0) throw new ArgumentException($"{source ?? "shard list"} is empty", nameof(files));
        foreach (var f in files)
            if (!File.Exists(f)) throw new FileNotFoundException($"{source ?? "shard list"}: shard '{f}' does not exist", f);
        return new ShardSet(string.Join(", ", files), source, files.Select(Path.GetFullPath).ToArray());
    }

    /// <summary>Reads and validates every shard's header; returns the token counts in file order.</summary>
    public IReadOnlyList<ShardHeader> ReadHeaders() => Files.Select(ShardFormat.ReadHeader).ToArray();

    /// <summary>The pattern as a full path (a leading <c>~/</c> expanded, a relative one made absolute against the
    /// current folder), wildcards kept: the same files for a process that runs in another folder.</summary>
    public static string FullPattern(string pattern) => Path.GetFullPath(ExpandHome(pattern));

    static string ExpandHome(string pattern)
    {
        if (pattern == "~" || pattern.StartsWith("~/", StringComparison.Ordinal))
            return Environment.GetFolderPath(Environment.SpecialFolder.UserProfile) + pattern[1..];
        return pattern;
    }
}
