using ILGPU.Runtime;
using Speedrun.Core.Autograd;
using Speedrun.Kernels.Ops;

namespace Speedrun.Core.Training.Optimizers;

/// <summary>
/// torch.optim.AdamW: decoupled weight decay, bias-corrected moments, one fused kernel per parameter. It reads
/// each parameter's <see cref="Tensor.Grad"/>; each group carries its own lr, betas, eps and weight decay,
/// and a schedule sets a group's <see cref="Group.Lr"/> before each step (torch's param_group["lr"]).
/// </summary>
public sealed class AdamW : IDisposable
{
    readonly List<Group> _groups = new();
    readonly Tensor? _one;
    int _step;

    /// <summary>A set of parameters sharing hyperparameters. <see cref="InitialLr"/> keeps the base rate a
    /// schedule multiplies.</summary>
    public sealed class Group(IReadOnlyList<Tensor> parameters, float lr, float beta1 = 0.9f, float beta2 = 0.999f,
        float eps = 1e-8f, float weightDecay = 0.01f)
    {
        /// <summary>The parameters, each updated from its own Grad.</summary>
        public IReadOnlyList<Tensor> Parameters { get; } = parameters;
        /// <summary>The learning rate of the next step.</summary>
        public float Lr { get; set; } = lr;
        /// <summary>The learning rate the group was made with.</summary>
        public float InitialLr { get; } = lr;
        /// <summary>Decay of the first moment.</summary>
        public float Beta1 { get; set; } = beta1;
        /// <summary>Decay of the second moment.</summary>
        public float Beta2 { get; set; } = beta2;
        /// <summary>Added to the root of the second moment.</summary>
        public float Eps { get; set; } = eps;
        /// <summary>Decoupled weight decay: p -= lr·wd·p.</summary>
        public float WeightDecay { get; set; } = weightDecay;
        internal List<(Tensor M, Tensor V)> State { get; } = new();
    }

    /// <summary>Zero moments for every parameter of every group.</summary>
    public AdamW(params Group[] groups)
    {
        foreach (var g in groups)
        {
            foreach (var p in g.Parameters)
            {
                if (!p.IsLeaf) throw new ArgumentException($"AdamW: {p.Describe()} is not a trainable leaf (RequiresGrad).");
                var m = Tensor.Persistent(p.Device, DType.F32, p.Shape);
                var v = Tensor.Persistent(p.Device, DType.F32, p.Shape);
                m.F32.MemSetToZero(p.Device.Stream);
                v.F32.MemSetToZero(p.Device.Stream);
                g.State.Add((m, v));
                _one ??= Tensor.Persistent(p.Device, DType.F32, 1).Fill_(1f);
            }
            _groups.Add(g);
        }
    }

    /// <summary>The groups, in order.</summary>
    public IReadOnlyList<Group> Groups => _groups;

    /// <summary>Steps taken (the bias corrections use it).</summary>
    public int StepCount => _step;

    /// <summary>One update of every parameter from its gradient, at each group's current Lr.</summary>
    public void Step()
    {
        using var _ = Profiler.Op("adamw");
        _step++;
        foreach (var g in _groups)
        {
            var hp = new AdamWStep(g.Lr, g.Beta1, g.Beta2, g.Eps, g.WeightDecay, _step);
            for (int i = 0; i < g.Parameters.Count; i++)
            {
                var p = g.Parameters[i];
                var (m, v) = g.State[i];
                p.Device.AdamW().Step(p.F32, p.Grad!.F32, m.F32, v.F32, hp, _one!.F32);
            }
        }
    }

    /// <summary>Frees the moments.</summary>
    public void Dispose()
    {
        foreach (var g in _groups)
            foreach (var (m, v) in g.State) { m.Dispose(); v.Dispose(); }
        _one?.Dispose();
    }
}
