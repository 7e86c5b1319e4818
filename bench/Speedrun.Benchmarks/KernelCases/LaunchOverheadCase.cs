using ILGPU;
using Speedrun.Kernels.Ops;
using TorchSharp;
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
