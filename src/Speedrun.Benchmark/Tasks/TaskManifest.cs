using System.Security.Cryptography;
using System.Text.Json;
using Speedrun.Core.Training;

namespace Speedrun.Benchmark.Tasks;

/// <summary>
/// task.json in an agent workspace: which task it is, which hints were given, which files were written,
/// and the SHA-256 of the starting Train.cs, so that the runner can tell an unchanged workspace.
/// It names the next record by number only: its name would itself be a hint. The agent can edit this file, so
/// the runner takes the task and hints of a run from the results store's record of the workspace
/// (<see cref="WorkspaceId"/>), written when `speedrun task` made it.
/// </summary>
public sealed record TaskManifest
{
    public const string FileName = "task.json";
    public const int CurrentFormat = 2;

    public required int Format { get; init; }
    /// <summary>The workspace's id in the results store that `speedrun task` registered it with.</summary>
    public required string WorkspaceId { get; init; }
    /// <summary>Task number = start record number.</summary>
    public required int Task { get; init; }
    public required ManifestRecord StartRecord { get; init; }
    /// <summary>Number of the record whose speedup the agent should recover.</summary>
    public required int NextRecord { get; init; }
    /// <summary>The hint selection as text: "none", "1", "1,2,3", ...</summary>
    public required string HintSelection { get; init; }
    public required IReadOnlyList<int> HintLevels { get; init; }
    /// <summary>Files written into the workspace (relative, '/'-separated), task.json excluded.</summary>
    public required IReadOnlyList<string> Files { get; init; }
    /// <summary>The training program the agent edits and the runner runs.</summary>
    public required string TrainFile { get; init; }
    /// <summary>Lower-case hex SHA-256 of the starting Train.cs (record N's, as copied).</summary>
    public required string StartTrainSha256 { get; init; }
    /// <summary>The records' own target (the full track's).</summary>
    public required double TargetValLoss { get; init; }
    public required IReadOnlyList<ManifestTrack> Tracks { get; init; }
    public required DateTimeOffset CreatedUtc { get; init; }

    /// <summary>Reads and checks dir/task.json; errors name the file and field.</summary>
    public static TaskManifest Load(string workspaceDir)
    {
        var path = Path.Combine(workspaceDir, FileName);
        if (!File.Exists(path))
            throw new FileNotFoundException($"{path}: not found; is '{workspaceDir}' a task workspace made by `speedrun task`?", path);
        TaskManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<TaskManifest>(File.ReadAllText(path), Track.Json);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not a valid task file: {e.Message}", e);
        }
        if (manifest is null) throw new InvalidDataException($"{path}: empty task file.");
        if (manifest.Format != CurrentFormat)
            throw new InvalidDataException($"{path}: field 'format' is {manifest.Format}; this version reads format {CurrentFormat}. Recreate the workspace.");
        if (string.IsNullOrWhiteSpace(manifest.WorkspaceId))
            throw new InvalidDataException($"{path}: field 'workspace_id' is empty. Recreate the workspace with `speedrun task`.");
        if (manifest.StartTrainSha256.Length != 64)
            throw new InvalidDataException($"{path}: field 'start_train_sha256' must be 64 hex digits.");
        return manifest;
    }

    /// <summary>Whether the workspace's training program is still byte-for-byte record N's.</summary>
    public bool IsTrainUnchanged(string workspaceDir)
    {
        var path = Path.Combine(workspaceDir, TrainFile);
        return File.Exists(path) && Sha256Hex(File.ReadAllBytes(path)) == StartTrainSha256;
    }

    public static string Sha256Hex(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));
}

public sealed record ManifestRecord(int Number, string Slug, string Name);

public sealed record ManifestTrack(string Name, string Device, double TargetValLoss);
