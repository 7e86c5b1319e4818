using System.Text.Json;
using System.Text.RegularExpressions;
using Speedrun.Core.Training;

namespace Speedrun.Benchmark.Catalog;

/// <summary>
/// The benchmark's content, read from a repository root: the records (records/NN-slug/record.json and,
/// once implemented, Train.cs), the tasks between consecutive records, the hint files (hints/NN/) and the
/// tracks (tracks/*.json). A loaded catalog is a snapshot; load again to see new files.
/// </summary>
public sealed partial class BenchmarkCatalog
{
    public const string HomeVariable = "SPEEDRUN_HOME";
    public const string RecordsFolder = "records";
    public const string HintsFolder = "hints";
    public const string TracksFolder = "tracks";

    public string Root { get; }
    /// <summary>All records, by number (1..N, contiguous).</summary>
    public IReadOnlyList<RecordInfo> Records { get; }
    /// <summary>Tasks N = 1..N-1 except excluded transitions, by number.</summary>
    public IReadOnlyList<BenchmarkTask> Tasks { get; }
    public IReadOnlyList<ExcludedTransition> ExcludedTransitions { get; }
    /// <summary>All tracks, ordered by name.</summary>
    public IReadOnlyList<Track> Tracks { get; }

    public string RecordsDirectory => Path.Combine(Root, RecordsFolder);
    public string HintsDirectory => Path.Combine(Root, HintsFolder);
    public string TracksDirectory => Path.Combine(Root, TracksFolder);

    private BenchmarkCatalog(string root, IReadOnlyList<RecordInfo> records, IReadOnlyList<BenchmarkTask> tasks,
        IReadOnlyList<ExcludedTransition> excluded, IReadOnlyList<Track> tracks)
    {
        Root = root;
        Records = records;
        Tasks = tasks;
        ExcludedTransitions = excluded;
        Tracks = tracks;
    }

    private static readonly JsonSerializerOptions RecordJson = new(Track.Json);

    [GeneratedRegex(@"^(\d{2})-")]
    private static partial Regex RecordFolder();

    /// <summary>Loads the catalog under a repository root. Errors name the file and field at fault.</summary>
    public static BenchmarkCatalog Load(string repoRoot)
    {
        var root = Path.GetFullPath(repoRoot);
        var records = LoadRecords(Path.Combine(root, RecordsFolder));
        var (tasks, excluded) = BuildTasks(records, Path.Combine(root, HintsFolder));
        var tracks = LoadTracks(Path.Combine(root, TracksFolder));
        return new BenchmarkCatalog(root, records, tasks, excluded, tracks);
    }

    /// <summary>Finds the repository root (see <see cref="FindRoot(string?)"/>) and loads it.</summary>
    public static BenchmarkCatalog LoadDefault() => Load(FindRoot());

    /// <summary>
    /// The repository root: the folder named by SPEEDRUN_HOME when it is set, otherwise the nearest folder
    /// holding both records/ and tracks/, walking up from <paramref name="startDirectory"/> (default: the
    /// current directory, then the application's own folder).
    /// </summary>
    public static string FindRoot(string? startDirectory = null) =>
        FindRoot(startDirectory, Environment.GetEnvironmentVariable(HomeVariable));

    internal static string FindRoot(string? startDirectory, string? home)
    {
        if (!string.IsNullOrWhiteSpace(home))
        {
            var full = Path.GetFullPath(home);
            if (!IsRoot(full))
                throw new DirectoryNotFoundException(
                    $"{HomeVariable} is '{home}', but that folder has no {RecordsFolder}/ and {TracksFolder}/ folders. " +
                    $"Point {HomeVariable} at the Speedrun repository root, or unset it.");
            return full;
        }
        var starts = startDirectory is not null
            ? new[] { startDirectory }
            : new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory };
        foreach (var start in starts)
        {
            for (var dir = new DirectoryInfo(Path.GetFullPath(start)); dir is not null; dir = dir.Parent)
                if (IsRoot(dir.FullName)) return dir.FullName;
        }
        throw new DirectoryNotFoundException(
            $"Could not find the Speedrun repository (a folder holding {RecordsFolder}/ and {TracksFolder}/) above " +
            $"'{string.Join("' or '", starts)}'. Run from inside the repository or set {HomeVariable} to its root.");
    }

    private static bool IsRoot(string dir) =>
        Directory.Exists(Path.Combine(dir, RecordsFolder)) && Directory.Exists(Path.Combine(dir, TracksFolder));

    private static List<RecordInfo> LoadRecords(string recordsDir)
    {
        if (!Directory.Exists(recordsDir))
            throw new DirectoryNotFoundException($"{recordsDir}: records folder not found.");
        var records = new List<RecordInfo>();
        foreach (var dir in Directory.GetDirectories(recordsDir).Order(StringComparer.Ordinal))
        {
            var folder = Path.GetFileName(dir);
            if (folder.StartsWith('.')) continue;
            if (!RecordFolder().IsMatch(folder))
                throw new InvalidDataException(
                    $"{dir}: every folder under {RecordsFolder}/ must be a record named NN-slug (e.g. 01-llmc-baseline); rename or remove it.");
            var file = Path.Combine(dir, RecordInfo.RecordFileName);
            records.Add(LoadRecord(file, folder));
        }
        if (records.Count == 0)
            throw new InvalidDataException($"{recordsDir}: no records found; add records/01-<slug>/record.json.");
        records.Sort((x, y) => x.Number.CompareTo(y.Number));
        for (int i = 0; i < records.Count; i++)
        {
            if (records[i].Number != i + 1)
                throw new InvalidDataException(
                    $"{recordsDir}: record numbers must run 1..{records.Count} without gaps or repeats; " +
                    $"expected record {i + 1} but found {records[i].FolderName}.");
        }
        return records;
    }

    private static RecordInfo LoadRecord(string file, string folder)
    {
        if (!File.Exists(file))
            throw new FileNotFoundException($"{file}: missing; every record folder needs a {RecordInfo.RecordFileName}.", file);
        RecordInfo? record;
        try
        {
            record = JsonSerializer.Deserialize<RecordInfo>(File.ReadAllText(file), RecordJson);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{file}: not a valid record file: {e.Message}", e);
        }
        if (record is null) throw new InvalidDataException($"{file}: empty record file.");
        record.Validate(file, folder);
        var dir = Path.GetDirectoryName(file)!;
        return record with { Directory = dir, IsRunnable = File.Exists(Path.Combine(dir, RecordInfo.TrainFileName)) };
    }

    private static (List<BenchmarkTask>, List<ExcludedTransition>) BuildTasks(List<RecordInfo> records, string hintsDir)
    {
        var tasks = new List<BenchmarkTask>();
        var excluded = new List<ExcludedTransition>();
        if (records[0].TaskExcluded is not null)
            throw new InvalidDataException(
                $"{records[0].RecordFilePath}: field 'task_excluded' cannot be set on the first record; no task targets it anyway.");
        for (int i = 0; i + 1 < records.Count; i++)
        {
            var (start, next) = (records[i], records[i + 1]);
            if (next.TaskExcluded is { } reason) excluded.Add(new ExcludedTransition(start.Number, next.Number, reason));
            else tasks.Add(new BenchmarkTask(start, next, Path.Combine(hintsDir, $"{start.Number:D2}")));
        }
        return (tasks, excluded);
    }

    private static List<Track> LoadTracks(string tracksDir)
    {
        if (!Directory.Exists(tracksDir))
            throw new DirectoryNotFoundException($"{tracksDir}: tracks folder not found.");
        var tracks = new List<Track>();
        foreach (var file in Directory.GetFiles(tracksDir, "*.json").Order(StringComparer.Ordinal))
        {
            var track = Track.Load(file);
            var expected = Path.GetFileNameWithoutExtension(file);
            if (track.Name != expected)
                throw new InvalidDataException($"{file}: field 'name' is '{track.Name}'; it must equal the file name '{expected}'.");
            tracks.Add(track);
        }
        if (tracks.Count == 0)
            throw new InvalidDataException($"{tracksDir}: no track files; add tracks/<name>.json.");
        return tracks;
    }

    /// <summary>Record by number; an unknown number throws, naming the valid range.</summary>
    public RecordInfo GetRecord(int number) =>
        number >= 1 && number <= Records.Count
            ? Records[number - 1]
            : throw new ArgumentOutOfRangeException(nameof(number), number, $"No record {number}; records are numbered 1 to {Records.Count}.");

    /// <summary>Task by number (= its start record); excluded or unknown numbers throw with the reason.</summary>
    public BenchmarkTask GetTask(int number)
    {
        var task = Tasks.FirstOrDefault(t => t.Number == number);
        if (task is not null) return task;
        var ex = ExcludedTransitions.FirstOrDefault(e => e.From == number);
        if (ex is not null)
            throw new ArgumentException($"Record {ex.From} to {ex.To} is not a task: {ex.Reason}", nameof(number));
        throw new ArgumentOutOfRangeException(nameof(number), number,
            $"No task {number}; tasks are numbered by their start record: {string.Join(", ", Tasks.Select(t => t.Number))}.");
    }

    /// <summary>Track by name; an unknown name throws, listing the known tracks.</summary>
    public Track GetTrack(string name) =>
        Tracks.FirstOrDefault(t => t.Name == name)
        ?? throw new ArgumentException($"No track '{name}'; known tracks: {string.Join(", ", Tracks.Select(t => t.Name))}.", nameof(name));

    /// <summary>The rows of `speedrun records`, one per record; the task column is about task N (N to N+1).</summary>
    public IReadOnlyList<CatalogRow> Table() =>
        [.. Records.Select(r => new CatalogRow(r.Number, r.Name, r.Date, r.OfficialTimeMinutes, r.ChangeClasses,
            r.IsRunnable, TaskAvailabilityOf(r.Number)))];

    private TaskAvailability TaskAvailabilityOf(int number)
    {
        if (number == Records.Count) return TaskAvailability.NoNextRecord;
        if (ExcludedTransitions.Any(e => e.From == number)) return TaskAvailability.Excluded;
        return GetTask(number).IsOpen ? TaskAvailability.Open : TaskAvailability.NotRunnable;
    }
}
