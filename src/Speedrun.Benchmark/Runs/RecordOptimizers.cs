using System.Reflection;
using Speedrun.Core.Autograd;
using Speedrun.Core.Training.Optimizers;
using Module = Speedrun.Core.Training.Modules.Module;

namespace Speedrun.Benchmark.Runs;

/// <summary>
/// A record's optimizers over its model, wired as its training loop wires them, from what its Gpt and Hyperparameters
/// expose. The loop is top-level code, which nothing can call, so the doctor (to time one step) and the tests (to train
/// a record beside its twin) rebuild it from this recipe. Rates are the Hyperparameters' own, held at their peak (the
/// schedule's factor is 1). Adam's β (0.9, 0.95) and ε 1e-8 are written in every loop that does not name them; so is
/// the order of the steps:
/// <list type="bullet">
/// <item>no Muon type (records 1-2): AdamW on every parameter at hp.LearningRate and hp.WeightDecay, after clipping the
///   global norm to hp.GradClip (record 1) or dividing each gradient by its norm + 1e-6 (record 2);</item>
/// <item>Gpt.HeadParameters() (records 3-7): AdamW on them at hp.LearningRate, no weight decay;</item>
/// <item>Gpt.Embedding (records 14+: Gpt.Embeddings(), with the value embeddings) and Gpt.Head (records 8+): Adam with
///   two groups, hp.EmbeddingLearningRate and hp.HeadLearningRate, β1 hp.AdamBeta1 (13+) and ε hp.AdamEps (20+) where
///   the record names them;</item>
/// <item>the program's Muon on Gpt.BlockMatrices() (records 9+) or Gpt.BlockParameters(), at hp.MuonLearningRate and
///   hp.MuonMomentum (records with hp.MuonMomentumAt(step): that), as rank 0 of 1 where it is distributed (6+);</item>
/// <item>Gpt.BlockScalars() (records 9+): Adam at hp.ScalarLearningRate, stepped after Muon;</item>
/// <item>Gpt.RoundBf16Parameters() (records 10+) after every step.</item>
/// </list>
/// Every parameter must fall in exactly one of the groups: a program whose parameters do not is refused, naming them,
/// since a recipe that silently skipped a parameter would train a different model from the record's.
/// </summary>
public sealed class RecordOptimizers : IDisposable
{
    readonly List<IDisposable> _owned = new();
    readonly List<Action<int>> _steps = new();

    public RecordOptimizers(LoadedProgram program, Device device, Module model, object hp)
    {
        var gpt = model.GetType();
        bool Has(string method) => gpt.GetMethod(method, Type.EmptyTypes) is not null;
        IReadOnlyList<Tensor> List(string method) => LoadedProgram.Unwrap(() => (IReadOnlyList<Tensor>?)gpt.GetMethod(method, Type.EmptyTypes)!.Invoke(model, null))
            ?? throw new InvalidOperationException($"{program.SourcePath}: Gpt.{method}() returned null.");
        Tensor Property(string name) => LoadedProgram.Get<Tensor>(model, name);
        float Rate(string name) => LoadedProgram.Get<float>(hp, name);
        var muonType = program.Assembly.GetType("Muon");
        var parts = new List<string>();
        // Records 13+ name Adam's β1 (0.8) and 20+ its ε (1e-10); before, the loop wrote 0.9 and 1e-8.
        float beta1 = hp.GetType().GetProperty("AdamBeta1") is null ? 0.9f : Rate("AdamBeta1");
        float eps = hp.GetType().GetProperty("AdamEps") is null ? 1e-8f : Rate("AdamEps");

        try
        {
            if (muonType is null)
            {
                var all = model.Parameters();
                var adamW = Own(new AdamW(new AdamW.Group(all, Rate("LearningRate"), 0.9f, 0.95f, 1e-8f, Rate("WeightDecay"))));
                if (hp.GetType().GetProperty("GradClip") is not null)
                {
                    var clip = Own(new GradClip(device));
                    float maxNorm = Rate("GradClip");
                    _steps.Add(_ => clip.ClipGradNorm(all, maxNorm));
                    parts.Add($"gradient norm clipped at {maxNorm}");
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
                parts.Insert(0, $"AdamW over every parameter (lr {Rate("LearningRate")}, weight decay {Rate("WeightDecay")})");
                Description = string.Join(", ", parts);
                return;
            }

            var groups = new List<IReadOnlyList<Tensor>>();
            AdamW adam;
            if (Has("HeadParameters"))
            {
                var head = List("HeadParameters");
                groups.Add(head);
                adam = Own(new AdamW(new AdamW.Group(head, Rate("LearningRate"), 0.9f, 0.95f, 1e-8f, 0f)));
                parts.Add($"AdamW over HeadParameters (lr {Rate("LearningRate")})");
            }
            else
            {
                // Records 14+ add their value embeddings to the embedding's group: Gpt.Embeddings() lists them all.
                IReadOnlyList<Tensor> embeddings = Has("Embeddings") ? List("Embeddings") : [Property("Embedding")];
                var head = Property("Head");
                groups.AddRange([embeddings, [head]]);
                adam = Own(new AdamW(
                    new AdamW.Group(embeddings, Rate("EmbeddingLearningRate"), beta1, 0.95f, eps, 0f),
                    new AdamW.Group([head], Rate("HeadLearningRate"), beta1, 0.95f, eps, 0f)));
                parts.Add($"Adam over {embeddings.Count} embedding table(s) (lr {Rate("EmbeddingLearningRate")}) and the head " +
                          $"(lr {Rate("HeadLearningRate")})");
            }

            var matrices = List(Has("BlockMatrices") ? "BlockMatrices" : "BlockParameters");
            groups.Add(matrices);
            var muon = Own(new ProgramMuon(muonType, matrices, Rate("MuonLearningRate"), Rate("MuonMomentum")));
            var momentumAt = hp.GetType().GetMethod("MuonMomentumAt");
            parts.Insert(0, $"{(muon.Distributed ? "distributed " : "")}Muon over {matrices.Count} block matrices (lr {Rate("MuonLearningRate")}, " +
                            (momentumAt is null ? $"momentum {Rate("MuonMomentum")})" : "momentum hp.MuonMomentumAt(step))"));

            AdamW? scalars = null;
            if (Has("BlockScalars"))
            {
                var list = List("BlockScalars");
                groups.Add(list);
                scalars = Own(new AdamW(new AdamW.Group(list, Rate("ScalarLearningRate"), beta1, 0.95f, eps, 0f)));
                parts.Add($"Adam over {list.Count} block scalars (lr {Rate("ScalarLearningRate")})");
            }
            parts.Add($"Adam β1 {beta1}, ε {eps:G2}");
            var round = gpt.GetMethod("RoundBf16Parameters", Type.EmptyTypes);
            if (round is not null) parts.Add("then RoundBf16Parameters");
            CheckCoverage(program, model, groups);

            _steps.Add(step =>
            {
                if (momentumAt is not null) muon.Momentum = (float)LoadedProgram.Unwrap(() => momentumAt.Invoke(hp, [step]))!;
                adam.Step();
                muon.Step();
                scalars?.Step();
                if (round is not null) LoadedProgram.Unwrap(() => round.Invoke(model, null));
            });
            Description = string.Join(", ", parts);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>What was wired, for logs and reports.</summary>
    public string Description { get; } = "";

    /// <summary>One optimizer step (the gradients in place) at step index <paramref name="step"/>.</summary>
    public void Step(int step)
    {
        foreach (var s in _steps) s(step);
    }

    public void Dispose()
    {
        foreach (var o in _owned) o.Dispose();
        _owned.Clear();
    }

    T Own<T>(T owned) where T : IDisposable
    {
        _owned.Add(owned);
        return owned;
    }

    /// <summary>Every parameter of the model in exactly one optimizer group, or an error naming the ones that are not.</summary>
    static void CheckCoverage(LoadedProgram program, Module model, IReadOnlyList<IReadOnlyList<Tensor>> groups)
    {
        var count = new Dictionary<Tensor, int>(ReferenceEqualityComparer.Instance);
        foreach (var p in groups.SelectMany(g => g)) count[p] = count.GetValueOrDefault(p) + 1;
        var named = model.NamedParameters();
        var missing = named.Where(p => !count.ContainsKey(p.Value)).Select(p => p.Name).ToList();
        var twice = named.Where(p => count.GetValueOrDefault(p.Value) > 1).Select(p => p.Name).ToList();
        if (missing.Count > 0 || twice.Count > 0 || count.Count != named.Count)
            throw new NotSupportedException($"{program.SourcePath}: the optimizer recipe (Muon over the block matrices, Adam over " +
                "the embeddings, head and block scalars) does not cover this record's parameters exactly once" +
                (missing.Count > 0 ? $"; not covered: {string.Join(", ", missing.Take(8))}" : "") +
                (twice.Count > 0 ? $"; covered twice: {string.Join(", ", twice.Take(8))}" : "") +
                (count.Count != named.Count && missing.Count == 0 && twice.Count == 0 ? "; a group holds a tensor that is not a parameter" : "") + ".");
    }

    /// <summary>The program's Muon, reached by reflection: constructor (parameters, lr, momentum) or, distributed
    /// (records 6+), (parameters, lr, momentum, rank, worldSize); Step(); Lr; Momentum (settable in records 9+).</summary>
    public sealed class ProgramMuon : IDisposable
    {
        readonly object _muon;

        public ProgramMuon(Type type, IReadOnlyList<Tensor> parameters, float lr, float momentum)
        {
            var constructor = type.GetConstructors().SingleOrDefault()
                ?? throw new NotSupportedException($"The program's Muon has {type.GetConstructors().Length} public constructors; " +
                                                   "the recipe knows (parameters, lr, momentum) and (parameters, lr, momentum, rank, worldSize).");
            Distributed = constructor.GetParameters().Length == 5;
            _muon = LoadedProgram.Unwrap(() => constructor.Invoke(Distributed ? [parameters, lr, momentum, 0, 1] : [parameters, lr, momentum]));
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

        public void Step() => LoadedProgram.Unwrap(() => _muon.GetType().GetMethod("Step", Type.EmptyTypes)!.Invoke(_muon, null));

        public void Dispose() => ((IDisposable)_muon).Dispose();
    }
}
