using ILGPU;
using Speedrun.Kernels.Ops;
using TorchSharp;
using static Speedrun.Benchmarks.KernelCases.TinyShapes;
using static TorchSharp.torch;
using TTensor = TorchSharp.torch.Tensor;

namespace Speedrun.Benchmarks.KernelCases;

/// <summary>Row softmax at the attention probabilities' shape (B·NH·T rows of T), against torch.softmax;
/// the backward against autograd through it.</summary>
sealed class SoftmaxCase(bool backward) : KernelCase($"Softmax.{(backward ? "Backward" : "Forward")} ({B * NH * T}x{T})")
{
    const int Rows = B * NH * T, Count = Rows * T;
    ArrayView<float> _x, _y, _dy, _dx;
    TTensor? _tx, _tyGraph, _tdy;

    protected override void Prepare()
    {
        var x = Normal(50, Count, 2f);
        var dy = Normal(51, Count);
        (_x, _y, _dy, _dx) = (Upload(x), Zeros(Count), Upload(dy), Zeros(Count));
        (_tx, _tdy) = (Leaf(x, Rows, T), Tensor(dy, Rows, T));
        _tyGraph = Own(torch.softmax(_tx, -1));
        Device.Softmax().Forward(_x, Rows, T, _y); // the backward reads y
    }

    public override void RunOurs()
    {
        if (backward) Device.Softmax().Backward(_y, _dy, Rows, T, _dx);
        else Device.Softmax().Forward(_x, Rows, T, _y);
    }

    public override void RunTorch()
    {
        using var scope = torch.NewDisposeScope();
        if (backward) torch.autograd.grad([_tyGraph!], [_tx!], [_tdy!], retain_graph: true);
        else using (torch.no_grad()) torch.softmax(_tx!, -1);
    }

    public override void Validate()
    {
        RunOurs();
        using var scope = torch.NewDisposeScope();
        // Probabilities O(1/T) and their gradients, a few roundings apart.
        if (backward)
            Check("dx", Download(_dx), Values(torch.autograd.grad([_tyGraph!], [_tx!], [_tdy!], retain_graph: true)[0]),
                1e-6, 1e-5);
        else
            Check("y", Download(_y), Values(_tyGraph!), 1e-7, 1e-5);
    }

    // Minimal traffic: forward reads x, writes y; backward reads y and dy, writes dx.
    public override string Throughput(double seconds) => GBps((backward ? 12.0 : 8.0) * Count, seconds);
}
