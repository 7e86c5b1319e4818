using Speedrun.Benchmark.Catalog;
using Speedrun.Benchmark.Runs;

namespace Speedrun.Core.Tests.Training;

/// <summary>
/// Every record folder with a Train.cs: the program compiled as the runner compiles it, its model built at a tiny
/// size through its Hyperparameters (4 blocks, width 128, its own head size, 520 tokens, 2 × 32-token
/// sequences; records 9+ with a 2-step momentum warm-up so the warm-up runs, records 12+ with 16-token attention blocks
/// since 15+ take only whole blocks, records 17+ with their structure scaled to 4 layers), its own optimizers wired as its loop
/// wires them (<see cref="RecordOptimizers"/>: the record's rates held at their peak), three steps on one batch.
/// Three, not two: from records 8's zero head every gradient upstream of it is zero at the first step, and q, k, v
/// and c_fc first get one at the third.
/// </summary>
public class EveryRecordTrainsOnTheCpuTests(ITestOutputHelper output)
{
    public static TheoryData<string> Records { get; } = new(
        Directory.GetDirectories(Path.Combine(BenchmarkCatalog.FindRoot(AppContext.BaseDirectory), "records"))
            .Where(d => File.Exists(Path.Combine(d, "Train.cs")))
            .Select(d => Path.GetFileName(d)!)
            .Order());

    [Theory]
    [MemberData(nameof(Records))]
    public void ThreeStepsOfItsOwnOptimizersLowerTheLossAndMoveEveryParameter(string record)
    {
        var program = RecordProgram.Load(record);
        var defaults = program.Hyperparameters();
        var size = new OracleSizes(Layers: 4, Dim: 128, HeadDim: LoadedProgram.Get<int>(defaults, "HeadDim"), Vocab: 520,
            SequenceLength: 32, Batch: 2);
        var settings = new List<(string, object)>();
        if (defaults.GetType().GetProperty("MomentumWarmupSteps") is not null) settings.Add(("MomentumWarmupSteps", 2));
        if (defaults.GetType().GetProperty("BlockSize") is not null) settings.Add(("BlockSize", 16)); // records 15+: whole blocks
        // Records 17+ at 4 layers: the record's structure scaled down, the attention-less block the decoder's second (as
        // layer 7 of 12) and one value-embedding table for the first and the last layer (as 3 for the first and last 3).
        if (defaults.GetType().GetProperty("LayerWithoutAttention") is not null) settings.Add(("LayerWithoutAttention", 3));
        if (defaults.GetType().GetProperty("ValueEmbeddingTables") is not null) settings.Add(("ValueEmbeddingTables", 1));
        if (defaults.GetType().GetProperty("EncoderWindows") is not null) settings.Add(("EncoderWindows", "LS")); // records 20+: long, short
        using var ours = new RecordGpt(record, size, seed: 1, [.. settings]);
        using var optimizers = ours.Optimizers();
        output.WriteLine($"{record}: {optimizers.Description}; products in {ours.Precision}");

        var start = ours.Model.NamedParameters().ToDictionary(p => p.Name, p => p.Value.ToArray());
        var batch = size.MakeBatch(seed: 5);
        var losses = new List<float>();
        var gotGradient = new HashSet<string>();
        var moved = new HashSet<string>();
        for (int step = 0; step <= 3; step++)
        {
            float loss = ours.LossAndBackward(batch);
            losses.Add(loss);
            Assert.True(float.IsFinite(loss), $"{record}: loss {loss} at step {step}");
            if (step == 3) break;
            foreach (var (name, p) in ours.Model.NamedParameters())
            {
                var grad = p.Grad?.ToArray();
                Assert.True(grad is not null && grad.All(float.IsFinite), $"{record}: {name} has no finite gradient at step {step}");
                if (grad.Any(g => g != 0)) gotGradient.Add(name);
            }
            optimizers.Step(step);
            foreach (var (name, p) in ours.Model.NamedParameters())
                if (!p.ToArray().SequenceEqual(start[name])) moved.Add(name);
        }
        output.WriteLine($"losses on the batch: {string.Join(", ", losses.Select(l => l.ToString("F4")))}");
        Assert.True(losses[^1] < losses[0], $"{record}: the loss went from {losses[0]} to {losses[^1]} in three steps on one batch");

        // Only layer 0's value-residual λ (records 9+) never gets a gradient: there v1 is v, so (1 − λ)·v + λ·v1 = v.
        var without = start.Keys.Except(gotGradient).ToList();
        Assert.True(without.All(n => n == "h.0.attn.lamb"), $"{record}: no gradient in three steps for {string.Join(", ", without)}");
        // Moved at some step, not necessarily away at the end: from records 8's zero head the first gradients upstream
        // are tiny, and with Adam's β1 0.8 (13+) a bf16 scalar can step out and back onto its start (record 17's
        // skip weights: 1 → 1.03125 → 1).
        foreach (var (name, p) in ours.Model.NamedParameters())
        {
            Assert.True(p.ToArray().All(float.IsFinite), $"{record}: {name} is not finite after three steps");
            if (gotGradient.Contains(name))
                Assert.True(moved.Contains(name), $"{record}: {name} had a gradient but did not move in three steps");
        }
    }
}
