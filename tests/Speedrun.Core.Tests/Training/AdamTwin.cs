using TorchSharp;
using TTensor = TorchSharp.torch.Tensor;
using Parameter = TorchSharp.Modules.Parameter;

namespace Speedrun.Core.Tests.Training;

/// <summary>
/// Adam (no weight decay) for the record twins, in TorchSharp ops in the order torch.optim.Adam applies them, so that
/// it gives torch.optim.Adam's values bit for bit (AdamTwinTests): m = β1·m + (1 − β1)·g; v = β2·v + (1 − β2)·g²;
/// p −= lr/(1 − β1^t) · m / (√v/√(1 − β2^t) + ε).
/// Why not torch.optim.Adam itself: its step passes scalars it makes from doubles straight to native ops, and a
/// collection from a parallel test can finalize one, freeing it while the op reads it ("Unknown scalar type" in
/// Tensor.mul_, CI of 2026-12-01). Here every scalar and temporary belongs to this (unoptimised) test code and lives
/// to the end of the step.
/// </summary>
sealed class AdamTwin
{
    readonly List<(Parameter Param, TTensor ExpAvg, TTensor ExpAvgSq)> _state;
    readonly double _lr, _beta1, _beta2, _eps;
    long _step;

    public AdamTwin(IEnumerable<Parameter> parameters, double lr, double beta1, double beta2, double eps)
    {
        _state = parameters.Select(p => (p, torch.zeros_like(p).detach(), torch.zeros_like(p).detach())).ToList();
        (_lr, _beta1, _beta2, _eps) = (lr, beta1, beta2, eps);
    }

    public void Step()
    {
        using var noGrad = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        _step++;
        double biasCorrection1 = 1 - Math.Pow(_beta1, _step), biasCorrection2 = 1 - Math.Pow(_beta2, _step);
        using Scalar beta1 = _beta1, oneMinusBeta1 = 1 - _beta1, beta2 = _beta2, oneMinusBeta2 = 1 - _beta2,
            rootCorrection2 = Math.Sqrt(biasCorrection2), eps = _eps, stepSize = -(_lr / biasCorrection1);
        foreach (var (p, expAvg, expAvgSq) in _state)
        {
            if (p.grad is not { } g) continue;
            expAvg.mul_(beta1).add_(g, alpha: oneMinusBeta1);
            expAvgSq.mul_(beta2).addcmul_(g, g, value: oneMinusBeta2);
            var denominator = (expAvgSq.sqrt() / rootCorrection2).add_(eps);
            p.addcdiv_(expAvg, denominator, value: stepSize);
        }
    }
}
