using Speedrun.Benchmark.Runs;
using TorchSharp;
using Parameter = TorchSharp.Modules.Parameter;

namespace Speedrun.Core.Tests.Training;

/// <summary>
/// The twin's side of the optimizers of a record that trains with Muon (records 3-11 here, 12+ in
/// <see cref="StreamRecordOracle"/>), from records.md's rates rather than the program's: Muon on every block matrix
/// (h.*, 2-D); Adam (β (<see cref="AdamBeta1"/>, 0.95), eps 1e-8, no weight decay) on each named parameter at its rate;
/// Adam on every block scalar (h.*, fewer than 2 dims) and the U-net's skip_weights at <see cref="ScalarLr"/>.
/// </summary>
sealed record TwinOptimizers
{
    public required MuonTwin.Options Muon { get; init; }
    public required double MuonLr { get; init; }
    public double Momentum { get; init; } = 0.95;
    /// <summary>Records 9+: Muon's momentum goes linearly from 0.85 to <see cref="Momentum"/> over these steps
    /// (0: no warm-up).</summary>
    public int MomentumWarmupSteps { get; init; }
    /// <summary>Adam on these parameters, each at its rate: wte (records 3-7), wte and lm_head (records 8+), and vte
    /// (record 14, in the embedding's group: Adam acts on each entry alone, so one group or two is the same).</summary>
    public required IReadOnlyList<(string Name, double Lr)> Adam { get; init; }
    /// <summary>β1 of every Adam (β2 is 0.95): 0.9, or 0.8 from record 13 on.</summary>
    public double AdamBeta1 { get; init; } = 0.9;
    /// <summary>Records 9+: the rate of the scalars' Adam.</summary>
    public double? ScalarLr { get; init; }
    /// <summary>Records 10+: the embedding and the scalars rounded to bf16 after each step.</summary>
    public bool RoundBf16Parameters { get; init; }
    /// <summary>The stream records (12+, <see cref="StreamRecordOracle"/>): whether the scalars are rounded to bf16 with
    /// the embeddings after each step (records 12-17); from record 18 on they stay fp32.</summary>
    public bool RoundBf16Scalars { get; init; } = true;
    /// <summary>ε of every Adam: 1e-8, or 1e-10 from record 20 on (the stream records' oracle reads it).</summary>
    public double AdamEps { get; init; } = 1e-8;

    /// <summary>Records 9-11 at a given Muon/scalar/embedding/head rate, momentum warm-up over
    /// <paramref name="warmupSteps"/>.</summary>
    public static TwinOptimizers Records9To11(MuonTwin.Options muon, double muonLr, double embeddingLr, double headLr,
        double scalarLr, int warmupSteps, bool roundBf16) => new()
    {
        Muon = muon, MuonLr = muonLr, Adam = [("wte.weight", embeddingLr), ("lm_head.weight", headLr)],
        ScalarLr = scalarLr, MomentumWarmupSteps = warmupSteps, RoundBf16Parameters = roundBf16,
    };

    /// <summary>Momentum at step <paramref name="step"/>: (1 − f)·0.85 + f·Momentum, f = min(step / warm-up, 1).</summary>
    public double MomentumAt(int step)
    {
        if (MomentumWarmupSteps == 0) return Momentum;
        double f = Math.Min((double)step / MomentumWarmupSteps, 1);
        return (1 - f) * 0.85 + f * Momentum;
    }
}

/// <summary>
/// What the oracle tests of records 3-11 share: the record's own optimizers (<see cref="RecordOptimizers"/>) on
/// its model, <see cref="TwinOptimizers"/> on the twin, stepped together.
/// </summary>
static class MuonRecordOracle
{
    /// <summary>
    /// Three steps with Muon. NS5 in bf16 is chaotic: one of G's entries rounded to the other bf16 neighbour
    /// (fp32 against float64 gradients, or fp32 against float64 sums inside a product) changes about half of
    /// the output's entries by an ulp and the output by about 1% (Frobenius), even from identical inputs.
    /// Measured over seeds 1-4, records 3 and 4: losses ≤ 1.0e-5, weights ≤ 4.7e-2 of how far they moved.
    /// Tolerances: 3e-5 and 0.12, loose, yet a twin without the Nesterov term moves the weights by 0.26-0.29
    /// and (record 3) the losses by 1e-4 to 4e-4; wrong coefficients, q/k/v handling or scales by 0.6 or more.
    /// </summary>
    public static Disagreement TrainingTolerance { get; } = new(Loss: 3e-5, Tensors: 0.12);

    /// <summary>The twin's optimizers; the returned step takes the step index.</summary>
    static Action<int> TwinStep(RotaryGptTwin twin, TwinOptimizers setup)
    {
        var adams = setup.Adam.Select(a => new AdamTwin([twin.Parameters[a.Name]], a.Lr, setup.AdamBeta1, 0.95, 1e-8)).ToList();
        var blocks = twin.Parameters.Where(p => p.Key.StartsWith("h.")).ToList();
        var muon = new MuonTwin(blocks.Where(p => p.Value.dim() == 2).Select(p => p.Value), setup.MuonLr, setup.Momentum, setup.Muon);
        var scalars = blocks.Where(p => p.Value.dim() < 2).Select(p => p.Value)
            .Concat(twin.Parameters.TryGetValue("skip_weights", out var skips) ? [skips] : Array.Empty<Parameter>()).ToList();
        var scalarAdam = setup.ScalarLr is double lr ? new AdamTwin(scalars, lr, setup.AdamBeta1, 0.95, 1e-8) : null;
        var rounded = setup.Adam.Where(a => a.Name == "wte.weight").Select(a => twin.Parameters[a.Name]).Concat(scalars).ToList();
        return step =>
        {
            foreach (var adam in adams) adam.Step();
            muon.Momentum = setup.MomentumAt(step);
            muon.Step();
            scalarAdam?.Step();
            if (setup.RoundBf16Parameters)
                using (torch.no_grad())
                    foreach (var p in rounded) p.copy_(p.to_type(torch.ScalarType.BFloat16).to_type(torch.ScalarType.Float64));
        };
    }

    /// <summary><paramref name="steps"/> steps of the record's optimizers on its model and of
    /// <paramref name="setup"/> on the twin, from their current weights.</summary>
    /// <remarks>Records 10+ (<see cref="TwinOptimizers.RoundBf16Parameters"/>) measure their scalars against their
    /// reach, ScalarLr·steps (see <see cref="RecordOracle.Training(RecordGpt, RotaryGptTwin, int, int, Action{int}, Action{int}, double)"/>).</remarks>
    public static Disagreement Training(RecordGpt ours, RotaryGptTwin twin, TwinOptimizers setup, int steps, int batchSeed = 100)
    {
        using var optimizers = ours.Optimizers();
        double reach = setup.RoundBf16Parameters ? setup.ScalarLr!.Value * steps : 0;
        return RecordOracle.Training(ours, twin, steps, batchSeed, optimizers.Step, TwinStep(twin, setup), reach);
    }

    /// <summary>Records 3-4: Muon (<paramref name="muon"/> on the twin) and AdamW on the tied embedding/head, at
    /// the given rates on both sides (set on the program through its Hyperparameters).</summary>
    public static Disagreement Training(string record, MuonTwin.Options muon, float adamLr, float muonLr, float momentum,
        int steps, int seed)
    {
        using var ours = new RecordGpt(record, new OracleSizes(), seed, Rates(adamLr, muonLr, momentum));
        var setup = new TwinOptimizers { Muon = muon, MuonLr = muonLr, Momentum = momentum, Adam = [("wte.weight", adamLr)] };
        return Training(ours, ours.Twin(), setup, steps);
    }

    /// <summary>The losses of <paramref name="steps"/> steps of the record's optimizers from a fresh model.</summary>
    public static float[] Losses(string record, float adamLr, float muonLr, float momentum, int steps, int seed)
    {
        using var ours = new RecordGpt(record, new OracleSizes(), seed, Rates(adamLr, muonLr, momentum));
        return Losses(ours, steps);
    }

    /// <summary>The losses of <paramref name="steps"/> steps of the record's optimizers on a model.</summary>
    public static float[] Losses(RecordGpt ours, int steps)
    {
        using var optimizers = ours.Optimizers();
        return RecordOracle.Losses(ours, steps, batchSeed: 200, optimizers.Step);
    }

    static (string, object)[] Rates(float adamLr, float muonLr, float momentum) =>
        [("LearningRate", adamLr), ("MuonLearningRate", muonLr), ("MuonMomentum", momentum)];
}
