using Speedrun.Benchmark.Runs;
using Speedrun.Core.Autograd;
using Speedrun.Core.Training.Optimizers;
using Tensor = Speedrun.Core.Autograd.Tensor;

namespace Speedrun.Core.Tests.Training;

/// <summary>
/// A record's optimizers over its model, wired as its training loop wires them, from what its Gpt and
/// Hyperparameters expose (the loop itself is top-level code, out of reach). Rates are the Hyperparameters' own,
/// held at their peak (the schedule's factor is 1). Adam's β (0.9, 0.95) and eps 1e-8 are written in every
/// record's loop; so is the order of the steps:
/// <list type="bullet">
/// <item>no Muon type (records 1-2): AdamW on every parameter, hp.LearningRate, hp.WeightDecay, after clipping
///   the global norm to hp.GradClip (record 1) or dividing each gradient by its norm + 1e-6 (record 2);</item>
/// <item>Gpt.HeadParameters() (records 3-7): AdamW on them at hp.LearningRate, no weight decay;</item>
/// <item>Gpt.Embedding (records 14+: Gpt.Embeddings(), with the value embeddings) and Gpt.Head (records 8+): Adam
///   with two groups, hp.EmbeddingLearningRate and hp.HeadLearningRate, β1 hp.AdamBeta1 (13+) and eps hp.AdamEps
///   (20+) where the record names them;</item>
/// <item>the program's Muon on Gpt.BlockMatrices() (records 9+) or Gpt.BlockParameters(), at hp.MuonLearningRate
///   and hp.MuonMomentum (records 9+: hp.MuonMomentumAt(step)), as rank 0 of 1 where it is distributed (6+);</item>
/// <item>Gpt.BlockScalars() (records 9+): Adam at hp.ScalarLearningRate, stepped after Muon;</item>
/// <item>Gpt.RoundBf16Parameters() (records 10+) after every step.</item>
/// </list>
/// </summary>
sealed class RecordOptimizers : IDisposable
{
    readonly List<IDisposable> _owned = new();
    readonly List<Action<int>> _steps = new();

    public RecordOptimizers(RecordGpt gpt)
    {
        var hp = gpt.Hyperparameters;
        float Rate(string name) => LoadedProgram.Get<float>(hp, name);
        var muonType = gpt.Program.Assembly.GetType("Muon");
        var parts = new List<string>();
        // Records 13+ name Adam's β1 (0.8) and 20+ its eps (1e-10); before, the loop wrote 0.9 and 1e-8.
        float beta1 = hp.GetType().GetProperty("AdamBeta1") is null ? 0.9f : Rate("AdamBeta1");
        float eps = hp.GetType().GetProperty("AdamEps") is null ? 1e-8f : Rate("AdamEps");

        if (muonType is null)
        {
            var all = gpt.Model.Parameters();
            var adamW = Own(new AdamW(new AdamW.Group(all, Rate("LearningRate"), 0.9f, 0.95f, 1e-8f, Rate("WeightDecay"))));
            if (hp.GetType().GetProperty("GradClip") is not null)
            {
                var clip = Own(new GradClip(gpt.Device));
                float maxNorm = Rate("GradClip");
                _steps.Add(_ => clip.ClipGradNorm(all, maxNorm));
                parts.Add($"global norm clipped to {maxNorm}");
            }
            else
            {
                _steps.Add(_ =>
                {
                    using (GradMode.NoGrad())
                    using (new TensorScope())
                        foreach (var p in all) p.Grad!.Div_(p.Grad.Norm().Add_(1e-6f));
                });
                parts.Add("each gradient divided by its norm + 1e-6");
            }
            _steps.Add(_ => adamW.Step());
            parts.Add($"AdamW on all parameters (lr {Rate("LearningRate")}, wd {Rate("WeightDecay")})");
            Description = string.Join(", then ", parts);
            return;
        }

        AdamW adam;
        if (gpt.Has("HeadParameters"))
        {
            adam = Own(new AdamW(new AdamW.Group(gpt.ParameterList("HeadParameters"), Rate("LearningRate"), 0.9f, 0.95f, 1e-8f, 0f)));
            parts.Add($"AdamW on HeadParameters (lr {Rate("LearningRate")})");
        }
        else
        {
            adam = Own(new AdamW(
                // Records 14+ add their value embeddings to the embedding's group: Gpt.Embeddings() lists them all.
                new AdamW.Group(gpt.Has("Embeddings") ? gpt.ParameterList("Embeddings") : [gpt.Property("Embedding")],
                    Rate("EmbeddingLearningRate"), beta1, 0.95f, eps, 0f),
                new AdamW.Group([gpt.Property("Head")], Rate("HeadLearningRate"), beta1, 0.95f, eps, 0f)));
            parts.Add($"Adam on Embedding (lr {Rate("EmbeddingLearningRate")}) and Head (lr {Rate("HeadLearningRate")}), β1 {beta1}, eps {eps}");
        }

        var matrices = gpt.ParameterList(gpt.Has("BlockMatrices") ? "BlockMatrices" : "BlockParameters");
        var muon = new ProgramMuon(muonType, matrices, Rate("MuonLearningRate"), Rate("MuonMomentum"));
        _owned.Add(muon);
        var momentumAt = hp.GetType().GetMethod("MuonMomentumAt");
        parts.Add($"{(muon.Distributed ? "distributed " : "")}Muon (lr {Rate("MuonLearningRate")}, momentum " +
            (momentumAt is null ? $"{Rate("MuonMomentum")})" : "hp.MuonMomentumAt(step))"));

        AdamW? scalars = null;
        if (gpt.Has("BlockScalars"))
        {
            scalars = Own(new AdamW(new AdamW.Group(gpt.ParameterList("BlockScalars"), Rate("ScalarLearningRate"), beta1, 0.95f, eps, 0f)));
            parts.Add($"Adam on BlockScalars (lr {Rate("ScalarLearningRate")})");
        }
        bool round = gpt.Has("RoundBf16Parameters");
        if (round) parts.Add("RoundBf16Parameters");

        _steps.Add(step =>
        {
            if (momentumAt is not null) muon.Momentum = (float)momentumAt.Invoke(hp, [step])!;
            adam.Step();
            muon.Step();
            scalars?.Step();
            if (round) gpt.Call("RoundBf16Parameters");
        });
        Description = string.Join(", ", parts);
    }

    /// <summary>What was wired, for test output.</summary>
    public string Description { get; }

    /// <summary>One optimizer step (gradients in place) at step index <paramref name="step"/>.</summary>
    public void Step(int step)
    {
        foreach (var s in _steps) s(step);
    }

    T Own<T>(T owned) where T : IDisposable
    {
        _owned.Add(owned);
        return owned;
    }

    public void Dispose()
    {
        foreach (var o in _owned) o.Dispose();
    }

    /// <summary>The program's Muon, reached by reflection: constructor (parameters, lr, momentum) or, distributed
    /// (records 6+), (parameters, lr, momentum, rank, worldSize); Step(); Lr; Momentum (settable in records 9+).</summary>
    public sealed class ProgramMuon : IDisposable
    {
        readonly object _muon;

        public ProgramMuon(Type type, IReadOnlyList<Tensor> parameters, float lr, float momentum)
        {
            var constructor = type.GetConstructors().Single();
            Distributed = constructor.GetParameters().Length == 5;
            _muon = constructor.Invoke(Distributed ? [parameters, lr, momentum, 0, 1] : [parameters, lr, momentum]);
            float actual = (float)type.GetProperty("Lr")!.GetValue(_muon)!;
            if (actual != lr) throw new InvalidOperationException($"Muon.Lr is {actual} after construction with lr {lr}.");
        }

        /// <summary>Constructed as rank 0 of a world of 1.</summary>
        public bool Distributed { get; }

        public float Momentum
        {
            get => (float)_muon.GetType().GetProperty("Momentum")!.GetValue(_muon)!;
            set => (_muon.GetType().GetProperty("Momentum")!.SetMethod
                    ?? throw new InvalidOperationException("This record's Muon has a fixed momentum."))
                .Invoke(_muon, [value]);
        }

        public void Step() => _muon.GetType().GetMethod("Step")!.Invoke(_muon, null);

        public void Dispose() => ((IDisposable)_muon).Dispose();
    }
}
