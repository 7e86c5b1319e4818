namespace Speedrun.Core.Training;

/// <summary>
/// The contract between the runner and a training program: these variables are set by the runner and
/// must not be changed by the program (DESIGN.md, "The training program contract").
/// </summary>
public sealed record RunEnvironment(
    string TrainFiles, string ValFiles, long ValTokens, string TrackName, string? TrackFile,
    string? DeviceName, int Seed, string OutDir, string? ProgramPath)
{
    /// <summary>Glob of the training shards.</summary>
    public const string TrainFilesVar = "SPEEDRUN_TRAIN_FILES";
    /// <summary>Glob of the validation shards.</summary>
    public const string ValFilesVar = "SPEEDRUN_VAL_FILES";
    /// <summary>Validation tokens per evaluation.</summary>
    public const string ValTokensVar = "SPEEDRUN_VAL_TOKENS";
    /// <summary>The track's name.</summary>
    public const string TrackVar = "SPEEDRUN_TRACK";
    /// <summary>The track file's path.</summary>
    public const string TrackFileVar = "SPEEDRUN_TRACK_FILE";
    /// <summary>cpu, cuda or auto.</summary>
    public const string DeviceVar = "SPEEDRUN_DEVICE";
    /// <summary>The run's seed.</summary>
    public const string SeedVar = "SPEEDRUN_SEED";
    /// <summary>The run folder (log.txt, results.json).</summary>
    public const string OutDirVar = "SPEEDRUN_OUT_DIR";
    /// <summary>The program's source path (copied into the log).</summary>
    public const string ProgramVar = "SPEEDRUN_PROGRAM";

    /// <summary>Reads the variables; a missing one is named, with what to do.</summary>
    public static RunEnvironment FromProcess()
    {
        static string Required(string name) =>
            Environment.GetEnvironmentVariable(name) is { Length: > 0 } v
                ? v
                : throw new InvalidOperationException(
                    $"{name} is not set. Training programs are started by `speedrun train` or `speedrun run`, " +
                    "which set the SPEEDRUN_* variables; to run one by hand, set them yourself (see README).");
        var valText = Required(ValTokensVar);
        if (!long.TryParse(valText, out long valTokens) || valTokens <= 0)
            throw new InvalidOperationException($"{ValTokensVar}='{valText}' is not a positive token count.");
        var seedText = Environment.GetEnvironmentVariable(SeedVar);
        int seed = 0;
        if (seedText is { Length: > 0 } && !int.TryParse(seedText, out seed))
            throw new InvalidOperationException($"{SeedVar}='{seedText}' is not an integer.");
        var outDir = Environment.GetEnvironmentVariable(OutDirVar) is { Length: > 0 } o
            ? o
            : Path.Combine("runs", DateTime.UtcNow.ToString("yyyyMMdd-HHmmss") + "-" + Guid.NewGuid().ToString("N")[..8]);
        return new RunEnvironment(
            Required(TrainFilesVar), Required(ValFilesVar), valTokens,
            Environment.GetEnvironmentVariable(TrackVar) is { Length: > 0 } t ? t : "full",
            Environment.GetEnvironmentVariable(TrackFileVar),
            Environment.GetEnvironmentVariable(DeviceVar), seed, outDir,
            Environment.GetEnvironmentVariable(ProgramVar));
    }

    /// <summary>The variables to hand a child process.</summary>
    public IEnumerable<KeyValuePair<string, string>> ToVariables()
    {
        yield return new(TrainFilesVar, TrainFiles);
        yield return new(ValFilesVar, ValFiles);
        yield return new(ValTokensVar, ValTokens.ToString());
        yield return new(TrackVar, TrackName);
        if (TrackFile is not null) yield return new(TrackFileVar, TrackFile);
        if (DeviceName is not null) yield return new(DeviceVar, DeviceName);
        yield return new(SeedVar, Seed.ToString());
        yield return new(OutDirVar, OutDir);
        if (ProgramPath is not null) yield return new(ProgramVar, ProgramPath);
    }
}
