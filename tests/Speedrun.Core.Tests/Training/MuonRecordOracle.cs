using Speedrun.Core.Training.Optimizers;
using TorchSharp;
using Tensor = Speedrun.Core.Autograd.Tensor;

namespace Speedrun.Core.Tests.Training;

/// <summary>
/// What the oracle tests of records 3 and 4 share: both train the block matrices with the program's own Muon
/// class and the tied embedding/head with AdamW (β 0.9, 0.95, eps 1e-8, no weight decay), at fixed rates.
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

    /// <summary>The program's Muon, reached by reflection: constructor (parameters, lr, momentum), Step(), Lr.</summary>
    sealed class ProgramMuon : IDisposable
    {
        readonly object _muon;

        public ProgramMuon(RecordGpt gpt, IReadOnlyList<Tensor> parameters, float lr, float momentum)
        {
            var type = gpt.Program.Type("Muon");
            _muon = Activator.CreateInstance(type, parameters, lr, momentum)!;
            float actual = (float)type.GetProperty("Lr")!.GetValue(_muon)!;
            if (actual != lr) throw new InvalidOperationException($"Muon.Lr is {actual} after construction with lr {lr}.");
        }

        public void Step() => _muon.GetType().GetMethod("Step")!.Invoke(_muon, null);

        public void Dispose() => ((IDisposable)_muon).Dispose();
    }

    /// <summary>The record's two optimizers over our model: AdamW on Gpt.HeadParameters(), Muon on
    /// Gpt.BlockParameters(); the returned step runs both.</summary>
    static (Action Step, IDisposable Owner) OurOptimizers(RecordGpt ours, float adamLr, float muonLr, float momentum)
    {
        var adam = new AdamW(new AdamW.Group(ours.ParameterList("HeadParameters"), adamLr, 0.9f, 0.95f, 1e-8f, weightDecay: 0f));
        var muon = new ProgramMuon(ours, ours.ParameterList("BlockParameters"), muonLr, momentum);
        return (() => { adam.Step(); muon.Step(); }, new Owner(adam, muon));
    }

    sealed class Owner(params IDisposable[] owned) : IDisposable
    {
        public void Dispose()
        {
            foreach (var o in owned) o.Dispose();
        }
    }

    /// <summary>
    /// <paramref name="steps"/> steps of the record's optimizers on its model and on the twin, whose Muon follows
    /// <paramref name="muon"/>; the twin's own partition: Muon on every block matrix (h.*), AdamW on wte.
    /// </summary>
    public static Disagreement Training(string record, MuonTwin.Options muon, float adamLr, float muonLr, float momentum,
        int steps, int seed)
    {
        using var ours = new RecordGpt(record, new OracleSizes(), seed);
        var twin = ours.Twin();
        var (step, owner) = OurOptimizers(ours, adamLr, muonLr, momentum);
        using var _ = owner;
        var twinAdam = torch.optim.AdamW([twin.Parameters["wte.weight"]], adamLr, 0.9, 0.95, 1e-8, 0);
        var twinMuon = new MuonTwin(twin.Parameters.Where(p => p.Key.StartsWith("h.")).Select(p => p.Value), muonLr, momentum, muon);
        return RecordOracle.Training(ours, twin, steps, batchSeed: 100, step, () =>
        {
            twinAdam.step();
            twinMuon.Step();
        });
    }

    /// <summary>The losses of <paramref name="steps"/> steps of the record's optimizers from a fresh model.</summary>
    public static float[] Losses(string record, float adamLr, float muonLr, float momentum, int steps, int seed)
    {
        using var ours = new RecordGpt(record, new OracleSizes(), seed);
        var (step, owner) = OurOptimizers(ours, adamLr, muonLr, momentum);
        using var _ = owner;
        return RecordOracle.Losses(ours, steps, batchSeed: 200, step);
    }
}
