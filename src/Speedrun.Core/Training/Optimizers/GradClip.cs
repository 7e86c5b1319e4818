using Speedrun.Core.Autograd;
using Speedrun.Kernels.Ops;

namespace Speedrun.Core.Training.Optimizers;

/// <summary>
/// torch.nn.utils.clip_grad_norm_: the global L2 norm of the parameters' gradients, and every gradient scaled
/// in place by min(1, maxNorm / (norm + 1e-6)). Norm and factor stay on the device (no synchronisation); when
/// the factor is 1 the gradients are left as they are without a pass over them.
/// </summary>
public sealed class GradClip : IDisposable
{
    readonly Tensor _norm, _scale;

    /// <summary>Device scalars for the norm and the factor.</summary>
    public GradClip(Device device)
    {
        _norm = Tensor.Persistent(device, DType.F32, 1);
        _scale = Tensor.Persistent(device, DType.F32, 1);
    }

    /// <summary>The global norm of the last call, before clipping (a device tensor; Item() syncs).</summary>
    public Tensor Norm => _norm;

    /// <summary>Clips the gradients of <paramref name="parameters"/> in place; returns the norm before clipping.</summary>
    public Tensor ClipGradNorm(IReadOnlyList<Tensor> parameters, float maxNorm)
    {
        using var _ = Profiler.Op("clip_grad_norm");
        var device = _norm.Device;
        device.GradNorm().GlobalNorm(parameters.Select(p => p.Grad!.F32).ToList(), _norm.F32);
        device.GradNorm().ClipScale(_norm.F32, maxNorm, _scale.F32);
        foreach (var p in parameters) device.GradNorm().Clip(p.Grad!.F32, _scale.F32);
        return _norm;
    }

    /// <summary>Frees the device scalars.</summary>
    public void Dispose()
    {
        _norm.Dispose();
        _scale.Dispose();
    }
}
