using ILGPU;
using TorchSharp;
using TTensor = TorchSharp.torch.Tensor;

namespace Speedrun.Benchmarks.KernelCases;

/// <summary>
/// An op with one input and one output whose baseline is a TorchSharp formula: the forward is checked against
/// the formula, the backward against autograd through it with the same upstream gradient dy. Subclasses give
/// the formula, the shapes, the tolerances and how to run ours; this class owns the data on both sides.
/// </summary>
public abstract class AutogradCase(string name, bool backward) : KernelCase(name)
{
    protected readonly bool IsBackward = backward;
    protected ArrayView<float> X, Y, Dy, Dx;
    TTensor? _tx, _tyGraph, _tdy;

    protected abstract TTensor Formula(TTensor x);

    /// <summary>(atol, rtol) of the forward and backward checks.</summary>
    protected abstract (double Atol, double Rtol) ForwardTolerance { get; }
    protected abstract (double Atol, double Rtol) BackwardTolerance { get; }

    /// <summary>The name of the input gradient in messages.</summary>
    protected virtual string GradName => "dx";

    /// <summary>Seeded N(0, scale²) input and N(0, 1) upstream gradient on both sides, and the torch graph.</summary>
    protected void PrepareInputs(int seed, long[] inputShape, long[] outputShape, float scale = 1f)
    {
        long inCount = inputShape.Aggregate(1L, (a, d) => a * d), outCount = outputShape.Aggregate(1L, (a, d) => a * d);
        var x = Normal(seed, inCount, scale);
        var dy = Normal(seed + 1, outCount);
        (X, Y, Dy, Dx) = (Upload(x), Zeros(outCount), Upload(dy), Zeros(inCount));
        (_tx, _tdy) = (Leaf(x, inputShape), Tensor(dy, outputShape));
        _tyGraph = Own(Formula(_tx));
    }

    public override void RunTorch()
    {
        using var scope = torch.NewDisposeScope();
        if (IsBackward) torch.autograd.grad([_tyGraph!], [_tx!], [_tdy!], retain_graph: true);
        else using (torch.no_grad()) Formula(_tx!);
    }

    public override void Validate()
    {
        RunOurs();
        using var scope = torch.NewDisposeScope();
        if (IsBackward)
            Check(GradName, Download(Dx), Values(torch.autograd.grad([_tyGraph!], [_tx!], [_tdy!], retain_graph: true)[0]),
                BackwardTolerance.Atol, BackwardTolerance.Rtol);
        else
            Check("y", Download(Y), Values(_tyGraph!), ForwardTolerance.Atol, ForwardTolerance.Rtol);
    }
}
