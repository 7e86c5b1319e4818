using ILGPU;
using Speedrun.Kernels.Ops;
using TorchSharp;
using static Speedrun.Benchmarks.KernelCases.TinyShapes;
using static TorchSharp.torch;
using TTensor = TorchSharp.torch.Tensor;

namespace Speedrun.Benchmarks.KernelCases;

/// <summary>
/// Causal self-attention from a fused (B, T, 3C) qkv to (B, T, C): ours splits heads, runs two batched CPU
/// GEMMs around the causal softmax and merges heads; the baseline splits and transposes the same way and
/// calls nn.functional.scaled_dot_product_attention(is_causal). The backward maps dy to dqkv.
/// </summary>
sealed class AttentionCase(bool backward)
    : KernelCase($"Attention.{(backward ? "Backward" : "Forward")} (B{B} T{T} NH{NH} HS{HS})")
{
    const int Count = N * C;
    ArrayView<float> _qkv, _y, _dy, _dqkv;
    AttentionState? _state;
    TTensor? _tqkv, _tyGraph, _tdy;

    static TTensor Formula(TTensor qkv)
    {
        var parts = qkv.split(C, -1);
        static TTensor Heads(TTensor t) => t.view(B, T, NH, HS).transpose(1, 2);
        var o = nn.functional.scaled_dot_product_attention(Heads(parts[0]), Heads(parts[1]), Heads(parts[2]),
            is_casual: true);
        return o.transpose(1, 2).contiguous().view(B, T, C);
    }

    protected override void Prepare()
    {
        var qkv = Normal(70, 3 * Count);
        var dy = Normal(71, Count);
        (_qkv, _y, _dy, _dqkv) = (Upload(qkv), Zeros(Count), Upload(dy), Zeros(3 * Count));
        (_tqkv, _tdy) = (Leaf(qkv, B, T, 3 * C), Tensor(dy, B, T, C));
        _tyGraph = Own(Formula(_tqkv));
        _state = Own(Device.Attention().Forward(_qkv, B, T, NH, HS, _y)); // what the backward reads
    }

    public override void RunOurs()
    {
        if (backward)
        {
            Device.Attention().Backward(_state!, _dy, _dqkv);
            return;
        }
        using var state = Device.Attention().Forward(_qkv, B, T, NH, HS, _y);
    }

    public override void RunTorch()
    {
        using var scope = torch.NewDisposeScope();
        if (backward) torch.autograd.grad([_tyGraph!], [_tqkv!], [_tdy!], retain_graph: true);
        else using (torch.no_grad()) Formula(_tqkv!);
    }

    public override void Validate()
    {
        RunOurs();
        using var scope = torch.NewDisposeScope();
        // GEMMs of length T = 128 and HS = 32 over O(1) values, in different orders.
        if (backward)
            Check("dqkv", Download(_dqkv), Values(torch.autograd.grad([_tyGraph!], [_tqkv!], [_tdy!], retain_graph: true)[0]),
                1e-4, 1e-4);
        else
            Check("y", Download(_y), Values(_tyGraph!), 1e-5, 1e-4);
    }

    // Dense-equivalent work of the products: forward q·kᵀ and p·v, backward four products of the same size.
    public override string Throughput(double seconds) =>
        GFlops((backward ? 8.0 : 4.0) * B * NH * T * T * HS, seconds);
}
