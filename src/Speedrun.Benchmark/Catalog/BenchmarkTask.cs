namespace Speedrun.Benchmark.Catalog;

/// <summary>
/// Task N: start from record N's training program and recover the speedup of record N+1, helped by
/// hints about N+1. Numbered by the start record, as the public harness numbers its tasks.
/// </summary>
public sealed record BenchmarkTask(RecordInfo Start, RecordInfo Next, string HintDirectory)
{
    /// <summary>The task number = the start record's number.</summary>
    public int Number => Start.Number;

    /// <summary>Open: both records have a Train.cs, so reference times can be measured and agents run.</summary>
    public bool IsOpen => Start.IsRunnable && Next.IsRunnable;

    /// <summary>Train.cs files that do not exist yet (empty when the task is open).</summary>
    public IReadOnlyList<string> MissingTrainFiles =>
        [.. new[] { Start, Next }.Where(r => !r.IsRunnable).Select(r => r.TrainPath)];

    /// <summary>Path of a stored hint (levels 1-3); level 0 is generated, see <see cref="Level0Diff"/>.</summary>
    public string HintPath(int level)
    {
        if (level == HintLevels.Diff)
            throw new ArgumentException("Level 0 (the diff) is generated from the two Train.cs files, not stored.", nameof(level));
        return Path.Combine(HintDirectory, HintLevels.FileName(level));
    }

    /// <summary>Whether a level can be given: levels 1-3 when the file exists, level 0 when the task is open.</summary>
    public bool HasHint(int level) => level == HintLevels.Diff ? IsOpen : File.Exists(HintPath(level));

    /// <summary>The text of a hint level; errors name the missing file.</summary>
    public string ReadHint(int level)
    {
        if (level == HintLevels.Diff) return Level0Diff();
        var path = HintPath(level);
        if (!File.Exists(path))
            throw new FileNotFoundException(
                $"Hint level {level} ({HintLevels.Title(level)}) of task {Number} is missing: {path}. " +
                $"Write it, or choose other levels.", path);
        return File.ReadAllText(path);
    }

    /// <summary>Level 0: the unified diff from record N's Train.cs to record N+1's.</summary>
    public string Level0Diff()
    {
        if (!IsOpen)
            throw new InvalidOperationException(
                $"Level 0 (the diff) of task {Number} needs both training programs; missing: {string.Join(", ", MissingTrainFiles)}.");
        return HintLevels.Level0Diff(File.ReadAllText(Start.TrainPath), File.ReadAllText(Next.TrainPath));
    }
}

/// <summary>A transition between consecutive records that is not a benchmark task, and why.</summary>
public sealed record ExcludedTransition(int From, int To, string Reason);
