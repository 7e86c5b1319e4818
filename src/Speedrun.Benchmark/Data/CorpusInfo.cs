namespace Speedrun.Benchmark.Data;

/// <summary>A built corpus folder: its shards, patterns for the loaders, and its manifest.</summary>
/// <param name="Directory">The folder holding the shards and <c>manifest.json</c>.</param>
/// <param name="Manifest">What the folder holds.</param>
/// <param name="Built">True if this call built it; false if an existing build was reused.</param>
public sealed record CorpusInfo(string Directory, CorpusManifest Manifest, bool Built)
{
    /// <summary>Glob for the training shards (a value for <c>SPEEDRUN_TRAIN_FILES</c>).</summary>
    public string TrainPattern => Path.Combine(Directory, $"{CorpusWriter.TrainPrefix}_*.bin");
    /// <summary>Glob for the validation shards (a value for <c>SPEEDRUN_VAL_FILES</c>).</summary>
    public string ValPattern => Path.Combine(Directory, $"{CorpusWriter.ValPrefix}_*.bin");
    /// <summary>Tokens in the training shards.</summary>
    public long TrainTokens => Manifest.Train.Tokens;
    /// <summary>Tokens in the validation shards.</summary>
    public long ValTokens => Manifest.Val.Tokens;
}
