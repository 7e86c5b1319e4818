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
    : AutogradCase($"Attention.{(backward ? "Backward" : "Forward")} (B{B} T{T} NH{NH} HS{HS})", backward)
{
    AttentionState? _state;

    protected override TTensor Formula(TTensor qkv)
    {
        var parts = qkv.split(C, -1);
        static TTensor Heads(TTensor t) => t.view(B, T, NH, HS).transpose(1, 2);
        var o = nn.functional.scaled_dot_product_attention(Heads(parts[0]), Heads(parts[1]), Heads(parts[2]),
            is_casual: true);
        return o.transpose(1, 2).contiguous().view(B, T, C);
    }

    // GEMMs of length T = 128 and HS = 32 over O(1) values, in different orders.
    protected override (double Atol, double Rtol) ForwardTolerance => (1e-5, 1e-4);
    protected override (double Atol, double Rtol) BackwardTolerance => (1e-4, 1e-4);
    protected override string GradName => "dqkv";

    protected override void Prepare()
    {
        PrepareInputs(70, [B, T, 3 * C], [B, T, C]);
        _state = Own(Device.Attention().Forward(X, B, T, NH, HS, Y)); // what the backward reads
    }

    public override void RunOurs()
    {
        if (IsBackward)
        {
            Device.Attention().Backward(_state!, Dy, Dx);
            return;
        }
        using var state = Device.Attention().Forward(X, B, T, NH, HS, Y);
    }

    // Dense-equivalent work of the products: forward q·kᵀ and p·v, backward four products of the same size.
    public override string Throughput(double seconds) =>
        GFlops((IsBackward ? 8.0 : 4.0) * B * NH * T * T * HS, seconds);
}
