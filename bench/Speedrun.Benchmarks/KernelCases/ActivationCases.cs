using Speedrun.Kernels.Ops;
using TorchSharp;
using static Speedrun.Benchmarks.KernelCases.TinyShapes;
using static TorchSharp.torch;
using TTensor = TorchSharp.torch.Tensor;

namespace Speedrun.Benchmarks.KernelCases;

/// <summary>Exact-erf GELU (record 1's MLP activation) over the MLP's hidden activations (N, 4C), against
/// nn.functional.gelu; the backward against autograd through it.</summary>
sealed class GeluCase(bool backward)
    : AutogradCase($"Activations.GeluErf{(backward ? "Backward" : "")} ({N}x{Hidden})", backward)
{
    const int Count = N * Hidden;

    protected override TTensor Formula(TTensor x) => nn.functional.gelu(x);

    // Our erf is accurate to a few ulps; libtorch's vectorised erf likewise: 1e-6 absolute on O(1) values.
    protected override (double Atol, double Rtol) ForwardTolerance => (2e-6, 1e-5);
    protected override (double Atol, double Rtol) BackwardTolerance => (2e-6, 1e-5);

    protected override void Prepare() => PrepareInputs(40, [N, Hidden], [N, Hidden]);

    public override void RunOurs()
    {
        if (IsBackward) Device.Activations().Backward<GeluErf>(X, Dy, Dx);
        else Device.Activations().Forward<GeluErf>(X, Y);
    }

    // Minimal traffic: forward reads x, writes y; backward reads x and dy, writes dx.
    public override string Throughput(double seconds) => GBps((IsBackward ? 12.0 : 8.0) * Count, seconds);
}
