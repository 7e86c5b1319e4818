using Speedrun.Kernels.Ops;

namespace Speedrun.Core.Autograd.Functions;

/// <summary>
/// F.embedding: y[b, t, :] = weight[tokens[b, t], :]. Backward scatters dy into the table without float
/// atomics: positions are grouped by token on the host (the ids came from the host loader).
/// </summary>
internal sealed class Embedding(Tensor tokens) : Function("embedding")
{
    int _b, _t, _c;

    protected override Tensor[] Forward(Tensor[] inputs)
    {
        var weight = inputs[0];
        Check.Dtype("Embedding", tokens, DType.I32);
        Check.Rank("Embedding", tokens, 2, "token ids of shape (B, T)");
        Check.Rank("Embedding", weight, 2, "a table of shape (V, C)");
        (_b, _t, _c) = (tokens.Dim(0), tokens.Dim(1), weight.Dim(1));
        var y = Tensor.Empty(weight.Device, _b, _t, _c);
        weight.Device.Embedding().Forward(tokens.I32, weight.F32, default, _b, _t, _c, y.F32);
        return [y];
    }

    public override Tensor?[] Backward(Tensor[] gradOutputs)
    {
        var weight = Inputs[0];
        var kernels = weight.Device.Embedding();
        var host = tokens.HostInts ?? tokens.ToIntArray();
        // Accumulate straight into a leaf's gradient; a fresh zeroed tensor otherwise.
        var dweight = weight.IsLeaf ? weight.Grad! : Tensor.Zeros(weight.Device, weight.Shape);
        using var plan = kernels.PlanTokenBackward(host, weight.Dim(0));
        kernels.TokenBackward(plan, gradOutputs[0].F32, _c, dweight.F32);
        return [weight.IsLeaf ? null : dweight];
    }
}
