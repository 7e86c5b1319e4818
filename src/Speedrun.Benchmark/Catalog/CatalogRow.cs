namespace Speedrun.Benchmark.Catalog;

/// <summary>Whether the task that starts from a record can be attempted.</summary>
public enum TaskAvailability
{
    /// <summary>Both this record and the next have a Train.cs.</summary>
    Open,
    /// <summary>This record or the next has no Train.cs yet.</summary>
    NotRunnable,
    /// <summary>The transition to the next record is not a task (e.g. record 6 to 7).</summary>
    Excluded,
    /// <summary>The last record: there is no next record.</summary>
    NoNextRecord,
}

/// <summary>One row of `speedrun records`. <see cref="Task"/> is about task N, which starts from this record.</summary>
public sealed record CatalogRow(
    int Number,
    string Name,
    DateOnly Date,
    double OfficialTimeMinutes,
    IReadOnlyList<string> ChangeClasses,
    bool Runnable,
    TaskAvailability Task)
{
    public bool TaskOpen => Task == TaskAvailability.Open;

    public string ClassesText => string.Join(", ", ChangeClasses);

    public string RunnableText => Runnable ? "yes" : "no";

    public string TaskText => Task switch
    {
        TaskAvailability.Open => "yes",
        TaskAvailability.NotRunnable => "no",
        TaskAvailability.Excluded => "excluded",
        _ => "-",
    };
}
