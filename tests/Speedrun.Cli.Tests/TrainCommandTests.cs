namespace Speedrun.Cli.Tests;

/// <summary>`speedrun train`, the README's first command, end to end on the fixture ladder.</summary>
public sealed class TrainCommandTests : IDisposable
{
    readonly LadderRepo _repo = new();

    public void Dispose() => _repo.Dispose();

    /// <summary>The run folder given relative to the current folder (as the default runs/… is): the children run in
    /// that folder, so a relative program path once named runs/x/runs/x/program.dll there and every sandboxed train
    /// crashed before its first step.</summary>
    [Fact]
    public void ARelativeRunFolderTrainsAndIsScored()
    {
        var outDir = Path.Combine(_repo.RunsDir, "relative");
        var relative = Path.GetRelativePath(Path.GetTempPath(), outDir); // the CLI runs in the temp folder
        Assert.False(Path.IsPathRooted(relative));
        var result = _repo.Cli("train", _repo.RecordDir(1), "--track", LadderRepo.Track, "--out", relative);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Matches(@"verdict: ok \| val_loss \d+\.\d{4} \(target 8\.1\)", result.Stdout);
        Assert.Contains($"files: {outDir} ", result.Stdout);
        Assert.True(File.Exists(Path.Combine(outDir, "model.safetensors")), result.ToString());
        Assert.True(File.Exists(Path.Combine(outDir, "eval-stdout.txt")), result.ToString());
    }
}
