namespace Speedrun.Benchmark.Data;

/// <summary>
/// Tokenizes documents (each stored as end-of-text + its ordinary GPT-2 tokens, as FineWeb's shards
/// are) into <c>train_NNNNNN.bin</c> and <c>val_NNNNNN.bin</c> shards plus a <see cref="CorpusManifest"/>.
/// The caller decides the split and the order; this writes exactly what it is given.
/// </summary>
public static class CorpusWriter
{
    /// <summary>File-name prefix of training shards.</summary>
    public const string TrainPrefix = "train";
    /// <summary>File-name prefix of validation shards.</summary>
    public const string ValPrefix = "val";

    /// <summary>
    /// Writes both splits into <paramref name="directory"/> (which must exist) and then the manifest
    /// (built by <paramref name="manifest"/> from the two splits). Returns the manifest.
    /// </summary>
    public static CorpusManifest Write(string directory, IReadOnlyList<string> train, IReadOnlyList<string> val,
        int shardTokens, Func<CorpusSplit, CorpusSplit, CorpusManifest> manifest, IProgress<DataBuildProgress>? progress = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(shardTokens, 1);
        var tokenizer = Gpt2Tokenizer.Shared;
        long total = train.Count + val.Count;
        long done = 0;
        long tokens = 0;
        CorpusSplit WriteSplit(string prefix, IReadOnlyList<string> documents)
        {
            using var shards = new ShardSequenceWriter(directory, prefix, shardTokens);
            foreach (var doc in documents)
            {
                shards.Write(tokenizer.EncodeDocument(doc));
                done++;
                // Report about every 1% and at the end; the callback may be slow (console).
                if (progress is not null && (done % Math.Max(1, total / 100) == 0 || done == total))
                    progress.Report(new DataBuildProgress("tokenizing", done, total, tokens + shards.TotalTokens));
            }
            var written = shards.Complete();
            tokens += shards.TotalTokens;
            return new CorpusSplit(documents.Count, shards.TotalTokens, written);
        }

        var trainSplit = WriteSplit(TrainPrefix, train);
        var valSplit = WriteSplit(ValPrefix, val);
        var result = manifest(trainSplit, valSplit);
        result.Write(directory);
        return result;
    }
}
