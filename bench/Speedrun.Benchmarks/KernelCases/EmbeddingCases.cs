using ILGPU;
using ILGPU.Runtime;
using Speedrun.Kernels.Ops;
using TorchSharp;
using static Speedrun.Benchmarks.KernelCases.TinyShapes;
using static TorchSharp.torch;
using TTensor = TorchSharp.torch.Tensor;

namespace Speedrun.Benchmarks.KernelCases;

/// <summary>
/// Token + position embedding of a (B, T) batch from wte (V, C) and wpe (T, C), against
/// a row gather (index_select) plus the position rows. The backward is what one step runs: ours plans the
/// token grouping on the host (counting sort + upload), then adds into dwte's touched rows and into dwpe;
/// torch's autograd builds a dense (V, C) gradient for wte.
/// </summary>
sealed class EmbeddingCase(bool backward) : KernelCase($"Embedding.{(backward ? "Backward" : "Forward")} ({B}x{T}, {V}x{C})")
{
    const int Count = N * C;
    int[] _tokens = [];
    ArrayView<int> _dTokens;
    ArrayView<float> _wte, _wpe, _out, _dOut, _dWte, _dWpe;
    TTensor? _tIndex, _tWte, _tWpe, _tOutGraph, _tdOut;

    // TorchSharp 0.107 has no nn.functional.embedding; index_select is the same gather (and index_add backward).
    TTensor Formula() => _tWte!.index_select(0, _tIndex!).view(B, T, C) + _tWpe!;

    protected override void Prepare()
    {
        _tokens = Tokens(60, N, V);
        var wte = Normal(61, (long)V * C, 0.02f);
        var wpe = Normal(62, T * C, 0.02f);
        var dOut = Normal(63, Count);
        (_dTokens, _wte, _wpe, _out) = (Upload(_tokens), Upload(wte), Upload(wpe), Zeros(Count));
        (_dOut, _dWte, _dWpe) = (Upload(dOut), Zeros((long)V * C), Zeros(T * C));
        (_tIndex, _tWte, _tWpe, _tdOut) = (Tensor(_tokens, N), Leaf(wte, V, C), Leaf(wpe, T, C), Tensor(dOut, B, T, C));
        _tOutGraph = Own(Formula());
    }

    public override void RunOurs()
    {
        var ops = Device.Embedding();
        if (!backward)
        {
            ops.Forward(_dTokens, _wte, _wpe, B, T, C, _out);
            return;
        }
        using var plan = ops.PlanTokenBackward(_tokens, V);
        ops.TokenBackward(plan, _dOut, C, _dWte);
        ops.PositionBackward(_dOut, B, T, C, _dWpe);
    }

    public override void RunTorch()
    {
        using var scope = torch.NewDisposeScope();
        if (backward) torch.autograd.grad([_tOutGraph!], [_tWte!, _tWpe!], [_tdOut!], retain_graph: true);
        else using (torch.no_grad()) Formula();
    }

    public override void Validate()
    {
        using var scope = torch.NewDisposeScope();
        if (!backward)
        {
            RunOurs();
            Check("out", Download(_out), Values(_tOutGraph!), 0, 0); // one fp32 addition each: bit-exact
            return;
        }
        _dWte.MemSetToZero();
        _dWpe.MemSetToZero();
        RunOurs();
        var grads = torch.autograd.grad([_tOutGraph!], [_tWte!, _tWpe!], [_tdOut!], retain_graph: true);
        // Sums of a few (dwte) or B = 4 (dwpe) O(1) rows, in different orders.
        Check("dWte", Download(_dWte), Values(grads[0]), 1e-5, 1e-6);
        Check("dWpe", Download(_dWpe), Values(grads[1]), 1e-5, 1e-6);
    }

    // Minimal traffic. Forward: B·T rows of wte read, (T, C) wpe read, (B, T, C) written.
    // Backward: dOut read, B·T rows of dwte read and written, dwpe read and written.
    public override string Throughput(double seconds) =>
        GBps(backward ? 12.0 * Count + 8.0 * T * C : 8.0 * Count + 4.0 * T * C, seconds);
}
