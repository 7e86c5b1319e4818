using ILGPU;
using Speedrun.Kernels.Ops;
using TorchSharp;
using static Speedrun.Benchmarks.KernelCases.TinyShapes;
using TTensor = TorchSharp.torch.Tensor;

namespace Speedrun.Benchmarks.KernelCases;

/// <summary>
/// One AdamW step (record 1's betas 0.9/0.95, eps 1e-8, weight decay 0.1) over one tensor as large as the
/// whole tiny model (6.84M parameters): our fused kernel against torch.optim.AdamW.step() on a Parameter
/// whose gradient is set once.
/// </summary>
sealed class AdamWCase() : KernelCase($"AdamW.Step ({ParameterCount / 1e6:F2}M parameters)")
{
    const double Lr = 1.5e-3, Beta1 = 0.9, Beta2 = 0.95, Eps = 1e-8, WeightDecay = 0.1;
    static readonly int Count = (int)ParameterCount;
    ArrayView<float> _p, _g, _m, _v, _scale;
    TorchSharp.Modules.Parameter? _tp;
    torch.optim.Optimizer? _optimizer;
    int _step;

    protected override void Prepare()
    {
        var p = Normal(90, Count, 0.02f);
        var g = Normal(91, Count, 1e-3f);
        (_p, _g, _m, _v, _scale) = (Upload(p), Upload(g), Zeros(Count), Zeros(Count), Upload([1f]));
        _step = 0;
        _tp = Own(new TorchSharp.Modules.Parameter(torch.tensor(p, [Count])));
        using (var scope = torch.NewDisposeScope())
            (_tp * torch.tensor(g, [Count])).sum().backward(); // sets _tp.grad = g, kept for every step
        _optimizer = Own(torch.optim.AdamW([_tp], Lr, Beta1, Beta2, Eps, WeightDecay));
    }

    public override void RunOurs() =>
        Device.AdamW().Step(_p, _g, _m, _v, new AdamWStep(Lr, Beta1, Beta2, Eps, WeightDecay, ++_step), _scale);

    public override void RunTorch() => _optimizer!.step();

    public override void Validate()
    {
        RunOurs();
        RunTorch();
        // The first step moves each parameter by about lr; both are a handful of fp32 roundings from exact.
        Check("parameters after one step", Download(_p), Values(_tp!), 1e-8, 1e-5);
    }

    // Reads parameter, gradient and both moments; writes parameter and both moments.
    public override string Throughput(double seconds) => GBps(28.0 * Count, seconds);
}
