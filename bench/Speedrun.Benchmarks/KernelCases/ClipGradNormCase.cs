using ILGPU.Runtime;
using Speedrun.Core.Training.Optimizers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using EngineTensor = Speedrun.Core.Autograd.Tensor;
using static Speedrun.Benchmarks.KernelCases.TinyShapes;

namespace Speedrun.Benchmarks.KernelCases;

/// <summary>
/// Gradient clipping over the tiny model's ten gradients, as record 1 runs it each step: the engine's
/// GradClip.ClipGradNorm (global norm, clip factor, every gradient scaled in place) against torch's
/// nn.utils.clip_grad_norm_ on the same gradients. The first call brings the norm (about 2.6) down to 1; later
/// calls scale by about 1, the same work on both sides.
/// </summary>
sealed class ClipGradNormCase() : KernelCase($"GradClip.ClipGradNorm ({ParameterCount / 1e6:F2}M in 10)")
{
    const float MaxNorm = 1f;
    readonly List<EngineTensor> _parameters = new();
    readonly List<Parameter> _torchParameters = new();
    readonly List<float[]> _grads = new();
    GradClip? _clip;

    protected override void Prepare()
    {
        _parameters.Clear();
        _torchParameters.Clear();
        _grads.Clear();
        for (int i = 0; i < ParameterSizes.Length; i++)
        {
            var g = Normal(10 + i, ParameterSizes[i], 1e-3f);
            _grads.Add(g);
            _parameters.Add(Own(EngineTensor.Parameter(Device, $"p{i}", new float[g.Length], g.Length)));
            _torchParameters.Add(Own(new Parameter(torch.zeros(g.Length))));
        }
        SetGradients();
        _clip = Own(new GradClip(Device));
    }

    /// <summary>Both sides' gradients back to the seeded values.</summary>
    void SetGradients()
    {
        for (int i = 0; i < _grads.Count; i++)
        {
            _parameters[i].Grad!.F32.CopyFromCPU(Device.Stream, _grads[i]);
            using var scope = torch.NewDisposeScope();
            var tp = _torchParameters[i];
            if (tp.grad is { } old) { old.copy_(torch.tensor(_grads[i])); old.Dispose(); }
            else (tp * torch.tensor(_grads[i])).sum().backward(); // sets grad = g
        }
    }

    public override void RunOurs() => _clip!.ClipGradNorm(_parameters, MaxNorm);

    public override void RunTorch() => nn.utils.clip_grad_norm_(_torchParameters, MaxNorm);

    /// <summary>
    /// Both sides are checked against the float64 norm of the same values: the clipped gradients must be the
    /// seeded ones times min(1, maxNorm / (norm + 1e-6)). Ours to 2e-6; torch's loosely (1e-3), because libtorch's
    /// float32 norm of the 6.4M-element wte gradient was seen 1.8e-4 relative low (2.53566 where ours gave 2.53612).
    /// </summary>
    public override void Validate()
    {
        SetGradients();
        var norm = _clip!.ClipGradNorm(_parameters, MaxNorm);
        RunTorch();
        double sumOfSquares = _grads.Sum(g => g.Sum(v => (double)v * v));
        double exact = Math.Sqrt(sumOfSquares), scale = Math.Min(1, MaxNorm / (exact + 1e-6));
        Check("norm", [norm.Item()], [(float)exact], 0, 1e-6);
        for (int i = 0; i < _grads.Count; i++)
        {
            var expected = _grads[i].Select(v => (float)(v * scale)).ToArray();
            Check($"clipped gradient {i}", _parameters[i].Grad!.ToArray(), expected, 1e-12, 2e-6);
            using var torchGrad = _torchParameters[i].grad!;
            Check($"torch's clipped gradient {i}", Values(torchGrad), expected, 1e-12, 1e-3);
        }
    }

    // Reads every gradient twice (norm, then scale) and writes it once.
    public override string Throughput(double seconds) => GBps(12.0 * ParameterCount, seconds);
}
