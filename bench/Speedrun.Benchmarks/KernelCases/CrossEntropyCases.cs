using ILGPU;
using Speedrun.Kernels.Ops;
using TorchSharp;
using static Speedrun.Benchmarks.KernelCases.TinyShapes;
using static TorchSharp.torch;
using TTensor = TorchSharp.torch.Tensor;

namespace Speedrun.Benchmarks.KernelCases;

/// <summary>
/// Mean cross-entropy of (N, V) logits, as autograd's CrossEntropy runs it: the per-row kernel, then the
/// deterministic sum and the 1/N scale. Forward only is validation's path (against cross_entropy under
/// no_grad); forward+backward is training's fused kernel, which also writes dloss/dlogits (to a separate
/// buffer here, so every call sees the same logits; training writes over the logits), against
/// cross_entropy followed by autograd's gradient with respect to the logits.
/// </summary>
sealed class CrossEntropyCase(bool withGrad)
    : KernelCase($"CrossEntropy.{(withGrad ? "ForwardBackward" : "Forward")} ({N}x{V})")
{
    const long Count = (long)N * V;
    ArrayView<float> _logits, _dLogits, _losses, _loss;
    ArrayView<int> _targets;
    TTensor? _tLogits, _tTargets;

    protected override void Prepare()
    {
        var logits = Normal(80, Count);
        var targets = Tokens(81, N, V);
        (_logits, _targets, _losses, _loss) = (Upload(logits), Upload(targets), Zeros(N), Zeros(1));
        _dLogits = withGrad ? Zeros(Count) : default;
        (_tLogits, _tTargets) = (Leaf(logits, N, V), Tensor(targets, N));
    }

    public override void RunOurs()
    {
        var ce = Device.CrossEntropy();
        if (withGrad) ce.ForwardBackward(_logits, _targets, N, V, V, 1f / N, 0f, _losses, _dLogits);
        else ce.Forward(_logits, _targets, N, V, V, 0f, _losses);
        Device.Reduction().Sum(_losses, _loss);
        Device.Elementwise().Scale(_loss, 1f / N, _loss);
    }

    public override void RunTorch()
    {
        using var scope = torch.NewDisposeScope();
        if (withGrad)
        {
            var loss = nn.functional.cross_entropy(_tLogits!, _tTargets!);
            torch.autograd.grad([loss], [_tLogits!]);
        }
        else
        {
            using (torch.no_grad()) nn.functional.cross_entropy(_tLogits!, _tTargets!);
        }
    }

    public override void Validate()
    {
        RunOurs();
        using var scope = torch.NewDisposeScope();
        var loss = nn.functional.cross_entropy(_tLogits!, _tTargets!);
        Check("loss", Download(_loss), Values(loss), 0, 1e-5);
        if (withGrad) // softmax/N: values O(1/(N·V)) = 4e-8, the target's O(1/N)
            Check("dlogits", Download(_dLogits), Values(torch.autograd.grad([loss], [_tLogits!])[0]), 1e-11, 1e-4);
    }

    // Minimal traffic: the logits read once; with the gradient, dlogits written once.
    public override string Throughput(double seconds) => GBps((withGrad ? 8.0 : 4.0) * Count, seconds);
}
