using ILGPU.Runtime;
using Speedrun.Core.Autograd;
using Speedrun.Kernels.Ops;

namespace Speedrun.Core.Training.Optimizers;

/// <summary>
/// torch.optim.AdamW: decoupled weight decay, bias-corrected moments, one fused kernel per parameter.
/// The gradient is multiplied on the device by an optional scale (the clip factor), so clipping needs no
/// host synchronisation.
/// </summary>
public sealed class AdamW : IDisposable
{
    readonly List<Group> _groups = new();
    int _step;

    /// <summary>A set of parameters sharing hyperparameters; Lr is the base rate the schedule scales.</summary>
    public sealed record Group(IReadOnlyList<Tensor> Parameters, float Lr, float Beta1 = 0.9f, float Beta2 = 0.999f,
        float Eps = 1e-8f, float WeightDecay = 0.01f)
    {
        internal List<(Tensor M, Tensor V)> State { get; } = new();
    }

    public AdamW(params Group[] groups)
    {
        foreach (var g in groups)
        {
            foreach (var p in g.Parameters)
            {
                var m = Tensor.Persistent(p.Device, DType.F32, p.Shape);
                var v = Tensor.Persistent(p.Device, DType.F32, p.Shape);
                m.F32.MemSetToZero(p.Device.Stream);
                v.F32.MemSetToZero(p.Device.Stream);
                g.State.Add((m, v));
            }
            _groups.Add(g);
        }
    }

    public IReadOnlyList<Group> Groups => _groups;
    public int StepCount => _step;

    /// <summary>One update with lr = group.Lr · lrScale; gradScale is a one-element device tensor or null.</summary>
    public void Step(float lrScale = 1f, Tensor? gradScale = null)
    {
        using var _ = Profiler.Op("adamw");
        _step++;
        foreach (var g in _groups)
        {
            var hp = new AdamWStep(g.Lr * lrScale, g.Beta1, g.Beta2, g.Eps, g.WeightDecay, _step);
            for (int i = 0; i < g.Parameters.Count; i++)
            {
                var p = g.Parameters[i];
                var (m, v) = g.State[i];
                var scale = gradScale ?? One(p.Device);
                p.Device.AdamW().Step(p.F32, p.Grad!.F32, m.F32, v.F32, hp, scale.F32);
            }
        }
    }

    Tensor? _one;
    Tensor One(Device device)
    {
        if (_one is null)
        {
            _one = Tensor.Persistent(device, DType.F32, 1);
            device.Elementwise().Fill(_one.F32, 1f);
        }
        return _one;
    }

    public void Dispose()
    {
        foreach (var g in _groups)
            foreach (var (m, v) in g.State) { m.Dispose(); v.Dispose(); }
        _one?.Dispose();
    }
}
