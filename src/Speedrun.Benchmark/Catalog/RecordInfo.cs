using System.Text.Json.Serialization;
using System.Text.RegularExpressions;

namespace Speedrun.Benchmark.Catalog;

/// <summary>
/// One speedrun record, as described by records/NN-slug/record.json. The JSON names are the snake_case
/// forms of the property names. A record is runnable once its training program records/NN-slug/Train.cs
/// exists. (The catalog class is <see cref="BenchmarkCatalog"/>, not Catalog, so that no type shares the
/// name of its namespace.)
/// </summary>
public sealed partial record RecordInfo
{
    /// <summary>Record number, 1-based, as the public harness numbers the records.</summary>
    public required int Number { get; init; }
    /// <summary>Kebab-case short name; the folder is records/{Number:D2}-{Slug}.</summary>
    public required string Slug { get; init; }
    public required string Name { get; init; }
    /// <summary>Date of the record on the speedrun leaderboard.</summary>
    public required DateOnly Date { get; init; }
    /// <summary>Leaderboard time on 8 x H100, in minutes.</summary>
    public required double OfficialTimeMinutes { get; init; }
    /// <summary>What the record changed relative to the one before it, in a sentence or two.</summary>
    public required string Description { get; init; }
    /// <summary>A subset of <see cref="ChangeClass.All"/>.</summary>
    public required IReadOnlyList<string> ChangeClasses { get; init; }
    /// <summary>Training steps the record's own code runs.</summary>
    public required int Steps { get; init; }
    public required double TargetValLoss { get; init; }
    /// <summary>The public harness's re-measured train_time on 8 x H100 (ms); null where not known.</summary>
    public required long? HarnessTimeMs { get; init; }
    /// <summary>The public harness's re-measured final validation loss; null where not known.</summary>
    public required double? HarnessValLoss { get; init; }
    /// <summary>Contributors credited on the speedrun leaderboard.</summary>
    public IReadOnlyList<string> Contributors { get; init; } = [];
    /// <summary>Where the original code lives upstream (modded-nanogpt folder or commit).</summary>
    public string? Upstream { get; init; }
    /// <summary>Quirks and caveats worth knowing (harness numbers, world-size behaviour, ...).</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];
    /// <summary>
    /// Set on a record that no benchmark task targets, with the reason: the transition from the previous
    /// record to this one is excluded (record 7: same code as record 6, only PyTorch changed).
    /// </summary>
    public string? TaskExcluded { get; init; }

    /// <summary>The record's folder (absolute), set by the catalog loader.</summary>
    [JsonIgnore] public string Directory { get; init; } = "";
    /// <summary>Whether Train.cs existed when the catalog was loaded.</summary>
    [JsonIgnore] public bool IsRunnable { get; init; }
    [JsonIgnore] public string FolderName => $"{Number:D2}-{Slug}";
    [JsonIgnore] public string TrainPath => Path.Combine(Directory, TrainFileName);
    [JsonIgnore] public string RecordFilePath => Path.Combine(Directory, RecordFileName);

    public const string TrainFileName = "Train.cs";
    public const string RecordFileName = "record.json";

    [GeneratedRegex("^[a-z0-9]+(-[a-z0-9]+)*$")]
    private static partial Regex KebabCase();

    /// <summary>Checks the fields; errors name the file and the field and say what to do.</summary>
    public void Validate(string source, string folderName)
    {
        void Fail(string field, string why) =>
            throw new InvalidDataException($"{source}: field '{field}' {why}");

        if (Number is < 1 or > 99) Fail("number", $"is {Number}; use a record number from 1 to 99");
        if (string.IsNullOrWhiteSpace(Slug) || !KebabCase().IsMatch(Slug))
            Fail("slug", $"is '{Slug}'; use lower-case kebab-case such as 'llmc-baseline'");
        if (folderName != FolderName)
            Fail("number/slug", $"give the folder name '{FolderName}' but the file is in '{folderName}'; rename the folder or fix the fields");
        if (string.IsNullOrWhiteSpace(Name)) Fail("name", "is empty; give the record's name");
        if (string.IsNullOrWhiteSpace(Description)) Fail("description", "is empty; say in a sentence what the record changed");
        if (!(OfficialTimeMinutes > 0)) Fail("official_time_minutes", "must be a positive number of minutes");
        if (ChangeClasses is null || ChangeClasses.Count == 0)
            Fail("change_classes", $"is empty; use one or more of {string.Join(", ", ChangeClass.All)}");
        foreach (var c in ChangeClasses!)
            if (!ChangeClass.All.Contains(c))
                Fail("change_classes", $"contains '{c}'; allowed: {string.Join(", ", ChangeClass.All)}");
        if (ChangeClasses!.Distinct().Count() != ChangeClasses!.Count) Fail("change_classes", "lists a class twice");
        if (Steps <= 0) Fail("steps", "must be a positive step count");
        if (!(TargetValLoss > 0)) Fail("target_val_loss", "must be positive (the speedrun's is 3.28)");
        if (HarnessTimeMs is <= 0) Fail("harness_time_ms", "must be positive, or null when unknown");
        if (HarnessValLoss is { } v && !(v > 0)) Fail("harness_val_loss", "must be positive, or null when unknown");
        if (TaskExcluded is not null && string.IsNullOrWhiteSpace(TaskExcluded))
            Fail("task_excluded", "is empty; give the reason, or leave the field out");
    }
}

/// <summary>What kind of change a record made (the fact sheet's classes).</summary>
public static class ChangeClass
{
    /// <summary>Fewer steps or tokens to reach the target.</summary>
    public const string Algorithmic = "algorithmic";
    /// <summary>A change to the model.</summary>
    public const string Architectural = "architectural";
    /// <summary>Faster per step (precision, kernels, compilation, layout).</summary>
    public const string Systems = "systems";
    /// <summary>Only helps when training is spread over several GPUs.</summary>
    public const string MultiGpuOnly = "multi_gpu_only";
    /// <summary>The starting point.</summary>
    public const string Baseline = "baseline";

    public static readonly IReadOnlyList<string> All = [Algorithmic, Architectural, Systems, MultiGpuOnly, Baseline];
}
