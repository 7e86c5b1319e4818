using ILGPU;
using Speedrun.Kernels.Ops;
using TorchSharp;
using static Speedrun.Benchmarks.KernelCases.TinyShapes;
using static TorchSharp.torch;
using TTensor = TorchSharp.torch.Tensor;

namespace Speedrun.Benchmarks.KernelCases;

/// <summary>Exact-erf GELU (record 1's MLP activation) over the MLP's hidden activations (N, 4C), against
/// nn.functional.gelu; the backward against autograd through it.</summary>
sealed class GeluCase(bool backward) : KernelCase($"Activations.GeluErf{(backward ? "Backward" : "")} ({N}x{Hidden})")
{
    const int Count = N * Hidden;
    ArrayView<float> _x, _y, _dy, _dx;
    TTensor? _tx, _tyGraph, _tdy;

    protected override void Prepare()
    {
        var x = Normal(40, Count);
        var dy = Normal(41, Count);
        (_x, _y, _dy, _dx) = (Upload(x), Zeros(Count), Upload(dy), Zeros(Count));
        (_tx, _tdy) = (Leaf(x, N, Hidden), Tensor(dy, N, Hidden));
        _tyGraph = Own(nn.functional.gelu(_tx));
    }

    public override void RunOurs()
    {
        if (backward) Device.Activations().Backward<GeluErf>(_x, _dy, _dx);
        else Device.Activations().Forward<GeluErf>(_x, _y);
    }

    public override void RunTorch()
    {
        using var scope = torch.NewDisposeScope();
        if (backward) torch.autograd.grad([_tyGraph!], [_tx!], [_tdy!], retain_graph: true);
        else using (torch.no_grad()) nn.functional.gelu(_tx!);
    }

    public override void Validate()
    {
        RunOurs();
        using var scope = torch.NewDisposeScope();
        // Our erf is accurate to a few ulps; libtorch's vectorised erf likewise: 1e-6 absolute on O(1) values.
        if (backward)
            Check("dx", Download(_dx), Values(torch.autograd.grad([_tyGraph!], [_tx!], [_tdy!], retain_graph: true)[0]),
                2e-6, 1e-5);
        else
            Check("y", Download(_y), Values(_tyGraph!), 2e-6, 1e-5);
    }

    // Minimal traffic: forward reads x, writes y; backward reads x and dy, writes dx.
    public override string Throughput(double seconds) => GBps((backward ? 12.0 : 8.0) * Count, seconds);
}
