using System.Reflection;
using Speedrun.Benchmark.Runs;
using Speedrun.Core.Autograd;
using Speedrun.Core.Training.Modules;
using Speedrun.Core.Training.Optimizers;
using Module = Speedrun.Core.Training.Modules.Module;

namespace Speedrun.Cli.Doctor;

/// <summary>
/// A record's model and optimizers built as its program's top-level code builds them, so that the doctor can time one
/// training step without the program's loop (top-level statements cannot be called). The recipe follows what the
/// program defines:
/// <list type="bullet">
/// <item>Muon records (12 on: a Muon class and Gpt.BlockMatrices()): the program's own
/// Muon(Gpt.BlockMatrices(), MuonLearningRate, MuonMomentum, rank 0, world size 1), and AdamW without weight decay over
/// the embeddings (Gpt.Embeddings(), or Gpt.Embedding), Gpt.Head and Gpt.BlockScalars(), each at its record's rate,
/// β = (AdamBeta1 or 0.9, 0.95), ε = AdamEps or 1e-8; every parameter must fall in exactly one of them. bf16 matmuls on
/// every device, as these programs ask; after the optimizers, Gpt.RoundBf16Parameters() where the record has it.</item>
/// <item>Otherwise (record 1): AdamW over every parameter (lr 1.5e-3, β = (0.9, 0.95), weight decay 0.1) after clipping
/// the gradient norm at 1, with bf16 autocast on CUDA and fp32 on the CPU.</item>
/// </list>
/// One step: ZeroGrad, Loss(x, y) under the precision, backward, then <see cref="OptimizerStep"/>.
/// </summary>
internal sealed class RecordTrainer : IDisposable
{
    readonly MethodInfo _loss;
    readonly List<IDisposable> _owned = new();
    readonly Action _optimizerStep;

    RecordTrainer(Module model, MethodInfo loss, MatmulPrecision precision, string optimizers, Action optimizerStep)
    {
        Model = model;
        _loss = loss;
        Precision = precision;
        Optimizers = optimizers;
        _optimizerStep = optimizerStep;
    }

    public Module Model { get; }
    public MatmulPrecision Precision { get; }
    /// <summary>What the optimizers are, for the log and the report.</summary>
    public string Optimizers { get; }

    /// <summary>Builds the record's Gpt from <paramref name="hp"/> (seed 0) and its optimizers.</summary>
    public static RecordTrainer Create(LoadedProgram program, Device device, object hp)
    {
        var gptType = program.Type("Gpt");
        var loss = gptType.GetMethod("Loss", [typeof(Tensor), typeof(Tensor)])
            ?? throw new NotSupportedException($"{program.SourcePath}: Gpt has no Loss(Tensor inputs, Tensor targets) for the doctor to call.");
        var model = (Module)Unwrap(() => Activator.CreateInstance(gptType, device, hp, new Random(0))!);
        try
        {
            return program.Assembly.GetType("Muon") is { } muonType && gptType.GetMethod("BlockMatrices", Type.EmptyTypes) is not null
                ? MuonRecipe(program, model, muonType, hp)
                : AdamWRecipe(model, device);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    static RecordTrainer AdamWRecipe(Module model, Device device)
    {
        var adam = new AdamW(new AdamW.Group(model.Parameters(), 1.5e-3f, 0.9f, 0.95f, 1e-8f, 0.1f));
        var clip = new GradClip(device);
        var trainer = new RecordTrainer(model, model.GetType().GetMethod("Loss", [typeof(Tensor), typeof(Tensor)])!,
            device.IsCuda ? MatmulPrecision.BF16 : MatmulPrecision.F32,
            "AdamW over every parameter (lr 1.5e-3, weight decay 0.1), gradient norm clipped at 1",
            () =>
            {
                clip.ClipGradNorm(model.Parameters(), 1f);
                adam.Step();
            });
        trainer._owned.AddRange([adam, clip]);
        return trainer;
    }

    static RecordTrainer MuonRecipe(LoadedProgram program, Module model, Type muonType, object hp)
    {
        var gpt = model.GetType();
        var matrices = Call<IReadOnlyList<Tensor>>(model, "BlockMatrices");
        IReadOnlyList<Tensor> embeddings = gpt.GetMethod("Embeddings", Type.EmptyTypes) is not null
            ? Call<IReadOnlyList<Tensor>>(model, "Embeddings")
            : [Get<Tensor>(model, "Embedding")];
        var head = Get<Tensor>(model, "Head");
        var scalars = Call<IReadOnlyList<Tensor>>(model, "BlockScalars");
        CheckCoverage(program, model, [matrices, embeddings, [head], scalars]);

        float beta1 = Optional(hp, "AdamBeta1", 0.9f), eps = Optional(hp, "AdamEps", 1e-8f);
        var adam = new AdamW(
            new AdamW.Group(embeddings, LoadedProgram.Get<float>(hp, "EmbeddingLearningRate"), beta1, 0.95f, eps, weightDecay: 0f),
            new AdamW.Group([head], LoadedProgram.Get<float>(hp, "HeadLearningRate"), beta1, 0.95f, eps, weightDecay: 0f),
            new AdamW.Group(scalars, LoadedProgram.Get<float>(hp, "ScalarLearningRate"), beta1, 0.95f, eps, weightDecay: 0f));
        var constructor = muonType.GetConstructor([typeof(IReadOnlyList<Tensor>), typeof(float), typeof(float), typeof(int), typeof(int)]);
        if (constructor is null)
        {
            adam.Dispose();
            throw new NotSupportedException($"{program.SourcePath}: its Muon has no constructor (matrices, lr, momentum, rank, worldSize), " +
                                            "the one records 12-21 define; the doctor does not know how to build this record's optimizer.");
        }
        var muon = (IDisposable)Unwrap(() => constructor.Invoke([matrices, LoadedProgram.Get<float>(hp, "MuonLearningRate"),
            LoadedProgram.Get<float>(hp, "MuonMomentum"), 0, 1]));
        var muonStep = muonType.GetMethod("Step", Type.EmptyTypes)!;
        var round = gpt.GetMethod("RoundBf16Parameters", Type.EmptyTypes);
        var trainer = new RecordTrainer(model, gpt.GetMethod("Loss", [typeof(Tensor), typeof(Tensor)])!, MatmulPrecision.BF16,
            $"Muon over {matrices.Count} block matrices + AdamW over {embeddings.Count} embedding table(s), the head and " +
            $"{scalars.Count} scalars (β1 {beta1}, ε {eps:G2})" + (round is null ? "" : ", then RoundBf16Parameters"),
            () =>
            {
                adam.Step();
                Unwrap(() => muonStep.Invoke(muon, null));
                if (round is not null) Unwrap(() => round.Invoke(model, null));
            });
        trainer._owned.AddRange([adam, muon]);
        return trainer;
    }

    /// <summary>Every parameter of the model in exactly one optimizer group, or an error naming the ones that are not.</summary>
    static void CheckCoverage(LoadedProgram program, Module model, IReadOnlyList<Tensor>[] groups)
    {
        var count = new Dictionary<Tensor, int>(ReferenceEqualityComparer.Instance);
        foreach (var p in groups.SelectMany(g => g)) count[p] = count.GetValueOrDefault(p) + 1;
        var named = model.NamedParameters();
        var missing = named.Where(p => !count.ContainsKey(p.Value)).Select(p => p.Name).ToList();
        var twice = named.Where(p => count.GetValueOrDefault(p.Value) > 1).Select(p => p.Name).ToList();
        if (missing.Count > 0 || twice.Count > 0 || count.Count != named.Count)
            throw new NotSupportedException($"{program.SourcePath}: the doctor's optimizer recipe (Muon over BlockMatrices, AdamW over " +
                "the embeddings, Head and BlockScalars) does not cover this record's parameters exactly once" +
                (missing.Count > 0 ? $"; not covered: {string.Join(", ", missing.Take(8))}" : "") +
                (twice.Count > 0 ? $"; covered twice: {string.Join(", ", twice.Take(8))}" : "") + ".");
    }

    /// <summary>A compute-capability reason why a program cannot run on a device, or null: FP8 GEMMs (F.ScaledMatmul,
    /// cuBLASLt's fp8 kernels) need 8.9 (Ada, Hopper) or newer on CUDA; the CPU emulates them exactly.</summary>
    public static string? Fp8Problem(string source, bool isCuda, string computeCapability, string deviceName)
    {
        if (!isCuda || !source.Contains("ScaledMatmul", StringComparison.Ordinal)) return null;
        var parts = computeCapability.Split('.');
        if (parts.Length == 2 && int.TryParse(parts[0], out int major) && int.TryParse(parts[1], out int minor) &&
            (major > 8 || (major == 8 && minor >= 9)))
            return null;
        return $"it trains with FP8 GEMMs (F.ScaledMatmul, cuBLASLt fp8), which need a GPU of compute capability 8.9 or newer " +
               $"(Ada, Hopper); {deviceName} is {computeCapability}. Time it on an H100/H200 or L4/L40, or on the CPU device.";
    }

    /// <summary>Zeroes the gradients.</summary>
    public void ZeroGrad() => Model.ZeroGrad();

    /// <summary>The record's training loss of one micro-batch (B, T), under its matmul precision.</summary>
    public Tensor Loss(Tensor inputs, Tensor targets)
    {
        using (Autocast.Use(Precision)) return (Tensor)Unwrap(() => _loss.Invoke(Model, [inputs, targets]))!;
    }

    /// <summary>Every optimizer's step, as the record's loop runs them after the micro-steps.</summary>
    public void OptimizerStep() => _optimizerStep();

    public void Dispose()
    {
        foreach (var d in _owned) d.Dispose();
        Model.Dispose();
    }

    static T Call<T>(object target, string method) =>
        (T)(Unwrap(() => target.GetType().GetMethod(method, Type.EmptyTypes)!.Invoke(target, null))
            ?? throw new InvalidOperationException($"Gpt.{method}() returned null."));

    static T Get<T>(object target, string property) =>
        (T)(target.GetType().GetProperty(property)?.GetValue(target)
            ?? throw new NotSupportedException($"This record's Gpt has no {property} for the doctor's optimizer recipe."));

    static T Optional<T>(object hp, string property, T fallback) =>
        hp.GetType().GetProperty(property) is { } p ? (T)p.GetValue(hp)! : fallback;

    /// <summary>Runs a reflective call, rethrowing what the program threw rather than the reflection wrapper.</summary>
    static T Unwrap<T>(Func<T> call)
    {
        try
        {
            return call();
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw();
            throw;
        }
    }
}
