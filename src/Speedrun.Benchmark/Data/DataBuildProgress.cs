namespace Speedrun.Benchmark.Data;

/// <summary>Progress of a corpus build: documents tokenized so far out of the total, and tokens written.</summary>
/// <param name="Stage">What is happening: "reading" (parsing inputs) or "tokenizing".</param>
/// <param name="Done">Items (files while reading, documents while tokenizing) finished.</param>
/// <param name="Total">Items in the stage.</param>
/// <param name="Tokens">Tokens written so far.</param>
public readonly record struct DataBuildProgress(string Stage, long Done, long Total, long Tokens);
