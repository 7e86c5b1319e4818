using ILGPU;
using Speedrun.Kernels.Ops;
using TorchSharp;
using static Speedrun.Benchmarks.KernelCases.TinyShapes;
using TTensor = TorchSharp.torch.Tensor;

namespace Speedrun.Benchmarks.KernelCases;

/// <summary>Fill of one element: what a launch costs on its own (ILGPU's CPU accelerator wakes its
/// threads for every launch; torch's fill_ is a plain call).</summary>
sealed class LaunchOverheadCase() : KernelCase("Elementwise.Fill, 1 element (launch cost)")
{
    ArrayView<float> _y;
    TTensor? _ty;

    protected override void Prepare()
    {
        _y = Zeros(1);
        _ty = Tensor([0f], 1);
    }

    public override void RunOurs() => Device.Elementwise().Fill(_y, 1f);

    public override void RunTorch() => _ty!.fill_(1f);

    public override void Validate()
    {
        RunOurs();
        RunTorch();
        Check("y", Download(_y), Values(_ty!), 0, 0);
    }

    public override string Throughput(double seconds) => $"{1 / seconds / 1e3:F0}k launches/s";
}

/// <summary>z = x + y at the residual stream's shape (N, C).</summary>
sealed class AddCase() : KernelCase($"Elementwise.Add ({N}x{C})")
{
    const int Count = N * C;
    ArrayView<float> _x, _y, _z;
    TTensor? _tx, _ty;

    protected override void Prepare()
    {
        var x = Normal(1, Count);
        var y = Normal(2, Count);
        (_x, _y, _z) = (Upload(x), Upload(y), Zeros(Count));
        (_tx, _ty) = (Tensor(x, N, C), Tensor(y, N, C));
    }

    public override void RunOurs() => Device.Elementwise().Add(_x, _y, _z);

    public override void RunTorch()
    {
        using var z = _tx! + _ty!;
    }

    public override void Validate()
    {
        RunOurs();
        using var z = _tx! + _ty!;
        Check("z", Download(_z), Values(z), 0, 0);
    }

    public override string Throughput(double seconds) => GBps(12.0 * Count, seconds);
}

/// <summary>y += x over the token embedding's gradient (V, C), as backprop accumulates gradients.</summary>
sealed class AccumulateCase() : KernelCase($"Elementwise.Accumulate ({V}x{C})")
{
    const int Count = V * C;
    ArrayView<float> _x, _y;
    TTensor? _tx, _ty;

    protected override void Prepare()
    {
        var x = Normal(3, Count);
        var y = Normal(4, Count);
        (_x, _y) = (Upload(x), Upload(y));
        (_tx, _ty) = (Tensor(x, V, C), Tensor(y, V, C));
    }

    public override void RunOurs() => Device.Elementwise().Accumulate(_x, 1f, _y);

    public override void RunTorch() => _ty!.add_(_tx!);

    public override void Validate()
    {
        RunOurs();
        RunTorch();
        Check("y", Download(_y), Values(_ty!), 0, 0);
    }

    public override string Throughput(double seconds) => GBps(12.0 * Count, seconds);
}
