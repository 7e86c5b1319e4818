using Speedrun.Core.Autograd;
using Speedrun.Kernels.Ops;

namespace Speedrun.Core.Training.Optimizers;

/// <summary>torch.nn.utils.clip_grad_norm_ as a device-side factor: the optimizer multiplies each gradient
/// by min(1, maxNorm / (‖g‖ + 1e-6)) while it updates, and the norm stays on the device until logged.</summary>
public sealed class GradClip : IDisposable
{
    readonly Tensor _norm, _scale;

    public GradClip(Device device)
    {
        _norm = Tensor.Persistent(device, DType.F32, 1);
        _scale = Tensor.Persistent(device, DType.F32, 1);
    }

    /// <summary>The global L2 norm of the last call (a device tensor; Item() syncs).</summary>
    public Tensor Norm => _norm;

    /// <summary>Computes the global norm of the parameters' gradients and returns the clip factor tensor.</summary>
    public Tensor Compute(IReadOnlyList<Tensor> parameters, float maxNorm)
    {
        using var _ = Profiler.Op("grad_norm");
        var device = _norm.Device;
        device.GradNorm().GlobalNorm(parameters.Select(p => p.Grad!.F32).ToList(), _norm.F32);
        device.GradNorm().ClipScale(_norm.F32, maxNorm, _scale.F32);
        return _scale;
    }

    public void Dispose()
    {
        _norm.Dispose();
        _scale.Dispose();
    }
}
