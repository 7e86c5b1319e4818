using Speedrun.Benchmark.Data;
using Speedrun.Core.Data;
using Speedrun.Core.Training;

namespace Speedrun.Benchmark.Runs;

/// <summary>The train and val shard patterns a track's runs use.</summary>
public sealed record DataPatterns(string TrainFiles, string ValFiles);

/// <summary>Resolves a track's "data" field to shard patterns, building the default corpus on first use.</summary>
public static class TrackData
{
    public const string FineWebDirVariable = "SPEEDRUN_FINEWEB_DIR";

    public static DataPatterns Resolve(Track track, TextWriter? log = null)
    {
        switch (track.Data)
        {
            case "default-corpus":
                var corpus = DefaultCorpus.Ensure(log: log);
                return new DataPatterns(corpus.TrainPattern, corpus.ValPattern);
            case "fineweb":
                var dir = FineWebDirectory();
                var train = Path.Combine(dir, "fineweb_train_*.bin");
                var val = Path.Combine(dir, "fineweb_val_*.bin");
                if (!Directory.Exists(dir) || Directory.GetFiles(dir, "fineweb_val_*.bin").Length == 0)
                    throw new FileNotFoundException(
                        $"Track '{track.Name}' trains on FineWeb, but no shards are in {dir}. Download them with " +
                        $"`speedrun data fineweb --shards N` or point {FineWebDirVariable} at a folder of fineweb_*.bin shards.");
                return new DataPatterns(train, val);
            default:
                throw new InvalidDataException($"Track '{track.Name}': unknown data '{track.Data}'.");
        }
    }

    public static string FineWebDirectory() =>
        Environment.GetEnvironmentVariable(FineWebDirVariable) is { Length: > 0 } d
            ? d
            : Path.Combine(DefaultCorpus.DefaultCacheRoot(), "fineweb10B");
}
