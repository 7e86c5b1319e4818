using System.Runtime.InteropServices;

namespace Speedrun.Benchmark.Data;

/// <summary>
/// Finds the English XML documentation files of the .NET SDK's reference packs
/// (<c>{dotnet}/packs/*.Ref/{version}/ref/{tfm}/*.xml</c>): text every machine with the SDK has offline.
/// Localized files live in culture subfolders and are not taken.
/// </summary>
public static class SdkDocSources
{
    /// <summary>
    /// Candidate .NET installation folders, best first: <c>DOTNET_ROOT</c>, the folder of the real
    /// (symlink-resolved) <c>dotnet</c> on PATH, and the folder three levels above the running runtime.
    /// </summary>
    public static IReadOnlyList<string> CandidateRoots()
    {
        var roots = new List<string>();
        void Add(string? dir)
        {
            if (string.IsNullOrEmpty(dir)) return;
            var full = Path.GetFullPath(dir);
            if (!roots.Contains(full, StringComparer.Ordinal)) roots.Add(full);
        }
        Add(Environment.GetEnvironmentVariable("DOTNET_ROOT"));
        string exe = OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet";
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, exe);
            if (!File.Exists(candidate)) continue;
            var target = new FileInfo(candidate).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? candidate;
            Add(Path.GetDirectoryName(target));
            break;
        }
        // e.g. /usr/share/dotnet/shared/Microsoft.NETCore.App/10.0.x/ → /usr/share/dotnet
        var runtimeDir = RuntimeEnvironment.GetRuntimeDirectory().TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar);
        Add(Path.GetDirectoryName(Path.GetDirectoryName(Path.GetDirectoryName(runtimeDir))));
        return roots;
    }

    /// <summary>
    /// The documentation files of the first candidate root that has any; throws
    /// <see cref="DirectoryNotFoundException"/> listing where it looked when none does.
    /// </summary>
    public static IReadOnlyList<string> Find()
    {
        var roots = CandidateRoots();
        foreach (var root in roots)
        {
            var files = FindInPacks(Path.Combine(root, "packs"));
            if (files.Count > 0) return files;
        }
        throw new DirectoryNotFoundException(
            "The default corpus is built from the .NET SDK's reference-pack documentation, but no SDK reference packs " +
            $"were found (looked in: {string.Join(", ", roots.Select(r => Path.Combine(r, "packs")))}). " +
            "Set DOTNET_ROOT to an SDK installation, or build the corpus on a machine with the SDK and copy its shards " +
            "here (then set SPEEDRUN_TRAIN_FILES and SPEEDRUN_VAL_FILES to them).");
    }

    /// <summary>
    /// The <c>*.xml</c> files of every <c>*.Ref</c> pack under <paramref name="packsDirectory"/>, taking each
    /// pack's highest version and, in it, the highest target framework folder; ordinal-sorted.
    /// </summary>
    public static IReadOnlyList<string> FindInPacks(string packsDirectory)
    {
        var result = new List<string>();
        if (!Directory.Exists(packsDirectory)) return result;
        foreach (var pack in Directory.GetDirectories(packsDirectory, "*.Ref").Order(StringComparer.Ordinal))
        {
            var version = Highest(Directory.GetDirectories(pack));
            if (version is null) continue;
            var refDir = Path.Combine(version, "ref");
            if (!Directory.Exists(refDir)) continue;
            var tfm = Highest(Directory.GetDirectories(refDir));
            if (tfm is null) continue;
            result.AddRange(Directory.GetFiles(tfm, "*.xml"));
        }
        result.Sort(StringComparer.Ordinal);
        return result;
    }

    // The folder whose name has the highest version (net9.0 < net10.0, 10.0.9 < 10.0.12; a prerelease
    // suffix sorts below its release).
    static string? Highest(string[] folders) =>
        folders.OrderBy(f => VersionKey(Path.GetFileName(f)), Comparer<(Version, int, string)>.Create(CompareKeys))
               .ThenBy(f => f, StringComparer.Ordinal)
               .LastOrDefault();

    static (Version, int, string) VersionKey(string name)
    {
        int start = 0;
        while (start < name.Length && !char.IsDigit(name[start])) start++;
        string rest = name[start..];
        int dash = rest.IndexOf('-');
        string numbers = dash >= 0 ? rest[..dash] : rest;
        string suffix = dash >= 0 ? rest[(dash + 1)..] : "";
        var version = Version.TryParse(numbers.Contains('.') ? numbers : numbers + ".0", out var v) ? v : new Version(0, 0);
        return (version, suffix.Length == 0 ? 1 : 0, suffix);
    }

    static int CompareKeys((Version, int, string) a, (Version, int, string) b)
    {
        int c = a.Item1.CompareTo(b.Item1);
        if (c != 0) return c;
        c = a.Item2.CompareTo(b.Item2);
        return c != 0 ? c : string.CompareOrdinal(a.Item3, b.Item3);
    }
}
