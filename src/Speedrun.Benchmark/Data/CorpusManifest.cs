using System.Text.Json;
using System.Text.Json.Serialization;

namespace Speedrun.Benchmark.Data;

/// <summary>One split (train or val) of a built corpus.</summary>
/// <param name="Documents">Documents in the split.</param>
/// <param name="Tokens">Tokens over all its shards (each document is end-of-text + its tokens).</param>
/// <param name="Shards">Its shard files, in order.</param>
public sealed record CorpusSplit(int Documents, long Tokens, IReadOnlyList<ShardEntry> Shards);

/// <summary>One input file of a corpus and its size, recorded so a cache can tell what it was built from.</summary>
public sealed record CorpusSource(string Path, long Bytes);

/// <summary>
/// <c>manifest.json</c> of a built corpus folder: what it was built from and what it holds. It is written
/// last, so a folder with a manifest is complete. No timestamps: building twice gives identical files.
/// </summary>
public sealed record CorpusManifest
{
    /// <summary>The manifest file name inside a corpus folder.</summary>
    public const string FileName = "manifest.json";

    /// <summary>What kind of corpus this is, e.g. "dotnet-xml-docs" or "text-folder".</summary>
    public required string Kind { get; init; }
    /// <summary>Builder version: bumped whenever the builder would write different tokens.</summary>
    public required int BuilderVersion { get; init; }
    /// <summary>The cache key (default corpus) or empty.</summary>
    public string Key { get; init; } = "";
    /// <summary>Tokenizer of the shards.</summary>
    public string Tokenizer { get; init; } = "gpt2";
    /// <summary>Maximum tokens per shard.</summary>
    public required int ShardTokens { get; init; }
    /// <summary>Requested val fraction of documents.</summary>
    public required double ValFraction { get; init; }
    /// <summary>Input files.</summary>
    public required IReadOnlyList<CorpusSource> Sources { get; init; }
    /// <summary>The training split.</summary>
    public required CorpusSplit Train { get; init; }
    /// <summary>The validation split.</summary>
    public required CorpusSplit Val { get; init; }

    /// <summary>Writes the manifest into <paramref name="directory"/>.</summary>
    public void Write(string directory)
    {
        var json = JsonSerializer.Serialize(this, CorpusManifestJson.Default.CorpusManifest);
        File.WriteAllText(Path.Combine(directory, FileName), json + "\n");
    }

    /// <summary>Reads the manifest of <paramref name="directory"/>, or null if it has none.
    /// Throws <see cref="InvalidDataException"/> naming the file if it is unreadable.</summary>
    public static CorpusManifest? TryRead(string directory)
    {
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path)) return null;
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllText(path), CorpusManifestJson.Default.CorpusManifest)
                ?? throw new InvalidDataException($"{path}: empty manifest");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not a valid corpus manifest ({e.Message}); delete the folder to rebuild it.", e);
        }
    }
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(CorpusManifest))]
internal sealed partial class CorpusManifestJson : JsonSerializerContext;
