using System.Text;
using System.Text.Json;
using Speedrun.Benchmark.Catalog;
using Speedrun.Core.Training;

namespace Speedrun.Benchmark.Tasks;

/// <summary>
/// Writes the folder an agent works in for task N: record N's Train.cs, the chosen hints about record
/// N+1, TASK.md (goal, contract, timing, scoring), API.md (the engine API a program compiles against) and
/// task.json (machine-readable, for the runner).
/// </summary>
public static class TaskWorkspace
{
    public const string InstructionsFileName = "TASK.md";
    public const string HintsFolder = "hints";

    /// <summary>
    /// Writes the workspace for <paramref name="taskNumber"/> into <paramref name="outDir"/>, which must be
    /// missing or empty (a workspace is never overwritten). The task must be open (both records have a
    /// Train.cs) and the chosen stored hints must exist. Returns the manifest written to task.json.
    /// </summary>
    public static TaskManifest Write(BenchmarkCatalog catalog, int taskNumber, HintSelection hints, string outDir)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(hints);
        ArgumentException.ThrowIfNullOrWhiteSpace(outDir);

        var task = catalog.GetTask(taskNumber);
        if (!task.IsOpen)
            throw new InvalidOperationException(
                $"Task {task.Number} (record {task.Start.Number} to {task.Next.Number}) is not open: " +
                $"{string.Join(" and ", task.MissingTrainFiles)} {(task.MissingTrainFiles.Count == 1 ? "does" : "do")} not exist yet. " +
                $"Implement the record first, or choose an open task (see `speedrun records`).");
        foreach (var level in hints.Levels.Where(l => l != HintLevels.Diff))
        {
            if (!task.HasHint(level))
                throw new FileNotFoundException(
                    $"Hint level {level} ({HintLevels.Title(level)}) of task {task.Number} is missing: {task.HintPath(level)}. " +
                    "Write it, or choose other hint levels.", task.HintPath(level));
        }
        EnsureEmptyTarget(outDir);

        // Gather everything first, so that a failure leaves no half-written workspace.
        var startTrain = File.ReadAllBytes(task.Start.TrainPath);
        var hintFiles = hints.Levels
            .Select(level => (Path: $"{HintsFolder}/{HintLevels.FileName(level)}", Text: task.ReadHint(level)))
            .ToList();
        var files = new List<string> { RecordInfo.TrainFileName, InstructionsFileName, ApiReference.FileName };
        files.AddRange(hintFiles.Select(h => h.Path));
        var fullTrack = catalog.Tracks.FirstOrDefault(t => t.Name == "full");
        var manifest = new TaskManifest
        {
            Format = TaskManifest.CurrentFormat,
            WorkspaceId = Guid.NewGuid().ToString("N"),
            Task = task.Number,
            StartRecord = new ManifestRecord(task.Start.Number, task.Start.Slug, task.Start.Name),
            NextRecord = task.Next.Number,
            HintSelection = hints.ToString(),
            HintLevels = hints.Levels,
            Files = files,
            TrainFile = RecordInfo.TrainFileName,
            StartTrainSha256 = TaskManifest.Sha256Hex(startTrain),
            TargetValLoss = fullTrack?.TargetValLoss ?? task.Start.TargetValLoss,
            Tracks = [.. catalog.Tracks.Select(t => new ManifestTrack(t.Name, t.Device, t.TargetValLoss))],
            CreatedUtc = DateTimeOffset.UtcNow,
        };
        var instructions = TaskInstructions.Render(task, hints, catalog.Tracks);
        var api = ApiReference.Render();

        Directory.CreateDirectory(outDir);
        File.WriteAllBytes(Path.Combine(outDir, RecordInfo.TrainFileName), startTrain);
        File.WriteAllText(Path.Combine(outDir, InstructionsFileName), instructions, Utf8NoBom);
        File.WriteAllText(Path.Combine(outDir, ApiReference.FileName), api, Utf8NoBom);
        if (hintFiles.Count > 0) Directory.CreateDirectory(Path.Combine(outDir, HintsFolder));
        foreach (var (path, text) in hintFiles)
            File.WriteAllText(Path.Combine(outDir, path), text, Utf8NoBom);
        File.WriteAllText(Path.Combine(outDir, TaskManifest.FileName),
            JsonSerializer.Serialize(manifest, Track.Json) + "\n", Utf8NoBom);
        return manifest;
    }

    private static readonly UTF8Encoding Utf8NoBom = new(encoderShouldEmitUTF8Identifier: false);

    private static void EnsureEmptyTarget(string outDir)
    {
        if (File.Exists(outDir))
            throw new IOException($"{outDir} is a file; give a new or empty folder for the task workspace.");
        if (Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any())
            throw new IOException(
                $"{outDir} already exists and is not empty; workspaces are never overwritten. Choose a new folder, or remove this one yourself.");
    }
}
