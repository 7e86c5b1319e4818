using Speedrun.Benchmark.Data;
using Speedrun.Core.Data;
using Speedrun.Core.Training;

namespace Speedrun.Benchmark.Runs;

/// <summary>
/// The validation tokens a training program may see, for its own optional validation: the V + 1 tokens of the val
/// stream that follow the V + 1 the harness scores (inputs 0..V−1, targets 1..V), written as one shard into the run
/// folder. Same distribution, never scored, so a program that trains on them gains nothing; the scored tokens stay
/// outside the training process (in the sandbox, the val shards are not there at all).
/// </summary>
public static class MonitorSet
{
    /// <summary>The shard's folder under the run folder.</summary>
    public const string Folder = "monitor";

    /// <summary>Writes the monitor shard for <paramref name="valTokens"/> scored tokens and returns the pattern
    /// that names it (the training process's SPEEDRUN_VAL_FILES).</summary>
    public static string Write(string valFiles, long valTokens, string outDir)
    {
        long span = checked(2 * valTokens + 1);
        using var val = new ValidationSet(ShardSet.Resolve(valFiles, RunEnvironment.ValFilesVar), span);
        var inputs = new int[span];
        var targets = new int[span];
        val.ReadBatch(0, 1, checked((int)span), inputs, targets);
        var dir = Directory.CreateDirectory(Path.Combine(outDir, Folder)).FullName;
        using (var writer = new ShardWriter(Path.Combine(dir, "val_000000.bin")))
        {
            writer.Write(targets.AsSpan(checked((int)valTokens))); // stream tokens V+1 .. 2V+1
            writer.Commit();
        }
        return Path.Combine(dir, "val_*.bin");
    }
}
