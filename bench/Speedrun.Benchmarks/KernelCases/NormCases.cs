using ILGPU;
using ILGPU.Runtime;
using Speedrun.Kernels.Ops;
using TorchSharp;
using static Speedrun.Benchmarks.KernelCases.TinyShapes;
using static TorchSharp.torch;
using TTensor = TorchSharp.torch.Tensor;

namespace Speedrun.Benchmarks.KernelCases;

/// <summary>
/// Weightless RMSNorm over (N, C), record 1's norm. TorchSharp 0.107 has no rms_norm, so the baseline is
/// the record's own formula, x·rsqrt(mean(x²) + eps); its backward is autograd over that formula.
/// </summary>
sealed class RmsNormCase(bool backward) : AutogradCase($"RmsNorm.{(backward ? "Backward" : "Forward")} ({N}x{C})", backward)
{
    const int Count = N * C;
    const float Eps = 1e-6f;
    ArrayView<float> _rstd;

    protected override TTensor Formula(TTensor x) => x * torch.rsqrt(x.pow(2).mean([-1], keepdim: true) + Eps);

    // O(1) values a few fp32 roundings apart (different summation orders): 1e-5 relative.
    protected override (double Atol, double Rtol) ForwardTolerance => (1e-6, 1e-5);
    protected override (double Atol, double Rtol) BackwardTolerance => (1e-5, 1e-5);

    protected override void Prepare()
    {
        PrepareInputs(20, [N, C], [N, C]);
        _rstd = Zeros(N);
        Device.RmsNorm().Forward(X, N, C, Eps, Y, _rstd); // the backward reads rstd
    }

    public override void RunOurs()
    {
        if (IsBackward) Device.RmsNorm().Backward(Dy, X, _rstd, N, C, Dx);
        else Device.RmsNorm().Forward(X, N, C, Eps, Y, _rstd);
    }

    // Minimal traffic: forward reads x, writes y; backward reads dy and x, writes dx (rstd is N floats).
    public override string Throughput(double seconds) => GBps((IsBackward ? 12.0 : 8.0) * Count, seconds);
}

/// <summary>LayerNorm with weight and bias over (N, C) (GPT-2's), against nn.functional.layer_norm; the
/// backward writes dx and accumulates dWeight and dBias, against autograd for all three.</summary>
sealed class LayerNormCase(bool backward) : KernelCase($"LayerNorm.{(backward ? "Backward" : "Forward")} ({N}x{C})")
{
    const int Count = N * C;
    const float Eps = 1e-5f;
    ArrayView<float> _x, _w, _b, _y, _mean, _rstd, _dy, _dx, _dw, _db;
    TTensor? _tx, _tw, _tb, _tyGraph, _tdy;

    TTensor Formula(TTensor x) => nn.functional.layer_norm(x, [C], _tw, _tb, Eps);

    protected override void Prepare()
    {
        var x = Normal(30, Count);
        var w = Normal(31, C, 0.1f).Select(v => 1 + v).ToArray();
        var b = Normal(32, C, 0.1f);
        var dy = Normal(33, Count);
        (_x, _w, _b, _y, _mean, _rstd) = (Upload(x), Upload(w), Upload(b), Zeros(Count), Zeros(N), Zeros(N));
        (_dy, _dx, _dw, _db) = (Upload(dy), Zeros(Count), Zeros(C), Zeros(C));
        (_tx, _tw, _tb, _tdy) = (Leaf(x, N, C), Leaf(w, C), Leaf(b, C), Tensor(dy, N, C));
        _tyGraph = Own(Formula(_tx));
        Device.LayerNorm().Forward(_x, _w, _b, N, C, Eps, _y, _mean, _rstd); // the backward reads mean, rstd
    }

    public override void RunOurs()
    {
        if (backward) Device.LayerNorm().Backward(_dy, _x, _w, _mean, _rstd, N, C, _dx, _dw, _db);
        else Device.LayerNorm().Forward(_x, _w, _b, N, C, Eps, _y, _mean, _rstd);
    }

    public override void RunTorch()
    {
        using var scope = torch.NewDisposeScope();
        if (backward) torch.autograd.grad([_tyGraph!], [_tx!, _tw!, _tb!], [_tdy!], retain_graph: true);
        else using (torch.no_grad()) Formula(_tx!);
    }

    public override void Validate()
    {
        using var scope = torch.NewDisposeScope();
        if (!backward)
        {
            RunOurs();
            Check("y", Download(_y), Values(_tyGraph!), 1e-5, 1e-5);
            return;
        }
        _dw.MemSetToZero();
        _db.MemSetToZero();
        RunOurs();
        var grads = torch.autograd.grad([_tyGraph!], [_tx!, _tw!, _tb!], [_tdy!], retain_graph: true);
        Check("dx", Download(_dx), Values(grads[0]), 1e-5, 1e-5);
        // Sums over 512 rows of O(1) terms: O(20) values, rounding O(1e-5).
        Check("dWeight", Download(_dw), Values(grads[1]), 1e-4, 1e-5);
        Check("dBias", Download(_db), Values(grads[2]), 1e-4, 1e-5);
    }

    // Minimal traffic: forward reads x, writes y; backward reads dy and x, writes dx (w, b, dw, db are C floats).
    public override string Throughput(double seconds) => GBps((backward ? 12.0 : 8.0) * Count, seconds);
}
