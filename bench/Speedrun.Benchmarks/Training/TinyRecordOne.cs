using System.Reflection;
using Speedrun.Benchmark.Catalog;
using Speedrun.Benchmark.Data;
using Speedrun.Benchmark.Runs;
using Speedrun.Core.Data;
using Speedrun.Core.Training;

namespace Speedrun.Benchmarks.Training;

/// <summary>
/// What both trainers train: record 1's program (records/01-llmc-baseline/Train.cs, compiled with Roslyn
/// as the runner compiles it, its types reached by reflection), its Hyperparameters for the tiny track
/// (tracks/tiny.json), and one fixed batch: the first B×T tokens of the default corpus's training shards.
/// </summary>
sealed class TinyRecordOne
{
    static readonly Lazy<LoadedProgram> Program = new(() =>
        LoadedProgram.Load(Path.Combine(BenchmarkCatalog.FindRoot(AppContext.BaseDirectory), "records", "01-llmc-baseline", "Train.cs")));

    TinyRecordOne(object hyperparameters, TokenBatch batch)
    {
        Hyperparameters = hyperparameters;
        Batch = batch;
        Layers = Get<int>("Layers");
        Dim = Get<int>("Dim");
        HeadDim = Get<int>("HeadDim");
        Vocab = Get<int>("Vocab");
        SequenceLength = Get<int>("SequenceLength");
        MicroBatch = Get<int>("MicroBatch");
        Accumulation = Get<int>("Accumulation");
        LearningRate = Get<float>("LearningRate");
        WeightDecay = Get<float>("WeightDecay");
        GradClip = Get<float>("GradClip");
    }

    /// <summary>The record's own Hyperparameters instance (for its Gpt constructor).</summary>
    public object Hyperparameters { get; }
    public TokenBatch Batch { get; }
    public int Layers { get; }
    public int Dim { get; }
    public int HeadDim { get; }
    public int Vocab { get; }
    public int SequenceLength { get; }
    public int MicroBatch { get; }
    public int Accumulation { get; }
    public float LearningRate { get; }
    public float WeightDecay { get; }
    public float GradClip { get; }

    public int TokensPerStep => MicroBatch * SequenceLength * Accumulation;

    /// <summary>A type the record's program defines (Gpt, Hyperparameters, ...).</summary>
    public static Type Type(string name) => Program.Value.Type(name);

    public static TinyRecordOne Load()
    {
        var root = BenchmarkCatalog.FindRoot(AppContext.BaseDirectory);
        var track = Track.Load(Path.Combine(root, "tracks", "tiny.json"));
        var forTrack = Type("Hyperparameters").GetMethod("ForTrack", BindingFlags.Public | BindingFlags.Static)
            ?? throw new InvalidOperationException("record 1's Hyperparameters has no static ForTrack(Track).");
        var hp = forTrack.Invoke(null, [track])!;

        var corpus = DefaultCorpus.Ensure(log: Console.Error);
        int batchSize = LoadedProgram.Get<int>(hp, "MicroBatch");
        int sequenceLength = LoadedProgram.Get<int>(hp, "SequenceLength");
        using var loader = new DistributedDataLoader(ShardSet.Resolve(corpus.TrainPattern), batchSize, sequenceLength);
        return new TinyRecordOne(hp, loader.NextBatch());
    }

    T Get<T>(string property) => LoadedProgram.Get<T>(Hyperparameters, property);
}
