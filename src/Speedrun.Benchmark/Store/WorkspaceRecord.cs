namespace Speedrun.Benchmark.Store;

/// <summary>
/// A task workspace as `speedrun task` made it, kept in the results store: the task and hints an agent run of it
/// is labelled with, whatever the workspace's own (editable) task.json says by the time it is run.
/// </summary>
/// <param name="Id">The id written into the workspace's task.json.</param>
/// <param name="Hints">The hint selection given ("none", "1", "1,2,3", ...).</param>
/// <param name="StartTrainSha256">SHA-256 of the Train.cs the workspace started from (record N's).</param>
/// <param name="Dir">Where it was written.</param>
public sealed record WorkspaceRecord(string Id, int Task, string Hints, string StartTrainSha256, string Dir, DateTimeOffset CreatedAt)
{
    /// <summary>The record of a workspace just written to <paramref name="dir"/> with <paramref name="manifest"/>.</summary>
    public static WorkspaceRecord Of(Tasks.TaskManifest manifest, string dir) =>
        new(manifest.WorkspaceId, manifest.Task, manifest.HintSelection, manifest.StartTrainSha256, Path.GetFullPath(dir), manifest.CreatedUtc);
}
