using System.Reflection;
using System.Runtime.Loader;
using Speedrun.Core.Benchmark;
using Speedrun.Core.Benchmark.Runs;
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
    static readonly Lazy<Assembly> Program = new(Compile);

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
    public static Type Type(string name) =>
        Program.Value.GetType(name) ?? throw new InvalidOperationException($"records/01-llmc-baseline/Train.cs defines no {name}.");

    public static TinyRecordOne Load()
    {
        var root = Catalog.FindRoot(AppContext.BaseDirectory);
        var track = Track.Load(Path.Combine(root, "tracks", "tiny.json"));
        var forTrack = Type("Hyperparameters").GetMethod("ForTrack", BindingFlags.Public | BindingFlags.Static)
            ?? throw new InvalidOperationException("record 1's Hyperparameters has no static ForTrack(Track).");
        var hp = forTrack.Invoke(null, [track])!;

        var corpus = DefaultCorpus.Ensure(log: Console.Error);
        int batchSize = (int)Type("Hyperparameters").GetProperty("MicroBatch")!.GetValue(hp)!;
        int sequenceLength = (int)Type("Hyperparameters").GetProperty("SequenceLength")!.GetValue(hp)!;
        using var loader = new DistributedDataLoader(ShardSet.Resolve(corpus.TrainPattern), batchSize, sequenceLength);
        return new TinyRecordOne(hp, loader.NextBatch());
    }

    T Get<T>(string property) =>
        (T)(Hyperparameters.GetType().GetProperty(property)?.GetValue(Hyperparameters)
            ?? throw new InvalidOperationException($"record 1's Hyperparameters has no {property}."));

    static Assembly Compile()
    {
        var root = Catalog.FindRoot(AppContext.BaseDirectory);
        var source = Path.Combine(root, "records", "01-llmc-baseline", "Train.cs");
        var dll = Path.Combine(Path.GetTempPath(), "speedrun-bench", $"01-llmc-baseline-{Guid.NewGuid():N}.dll");
        var result = ProgramCompiler.Compile(source, dll);
        if (!result.Success)
            throw new InvalidOperationException($"{source} does not compile:\n" + string.Join("\n", result.Errors));
        return AssemblyLoadContext.Default.LoadFromAssemblyPath(dll);
    }
}
