using Speedrun.Kernels.Ops;
using TorchSharp;
using static Speedrun.Benchmarks.KernelCases.TinyShapes;
using TTensor = TorchSharp.torch.Tensor;

namespace Speedrun.Benchmarks.KernelCases;

/// <summary>Row softmax at the attention probabilities' shape (B·NH·T rows of T), against torch.softmax;
/// the backward against autograd through it.</summary>
sealed class SoftmaxCase(bool backward)
    : AutogradCase($"Softmax.{(backward ? "Backward" : "Forward")} ({B * NH * T}x{T})", backward)
{
    const int Rows = B * NH * T, Count = Rows * T;

    protected override TTensor Formula(TTensor x) => torch.softmax(x, -1);

    // Probabilities O(1/T) and their gradients, a few roundings apart.
    protected override (double Atol, double Rtol) ForwardTolerance => (1e-7, 1e-5);
    protected override (double Atol, double Rtol) BackwardTolerance => (1e-6, 1e-5);

    protected override void Prepare()
    {
        PrepareInputs(50, [Rows, T], [Rows, T], scale: 2f);
        Device.Softmax().Forward(X, Rows, T, Y); // the backward reads y
    }

    public override void RunOurs()
    {
        if (IsBackward) Device.Softmax().Backward(Y, Dy, Rows, T, Dx);
        else Device.Softmax().Forward(X, Rows, T, Y);
    }

    // Minimal traffic: forward reads x, writes y; backward reads y and dy, writes dx.
    public override string Throughput(double seconds) => GBps((IsBackward ? 12.0 : 8.0) * Count, seconds);
}
