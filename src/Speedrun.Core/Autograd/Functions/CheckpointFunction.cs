namespace Speedrun.Core.Autograd.Functions;

/// <summary>
/// torch.utils.checkpoint: runs <c>fn</c> without recording a graph, keeping only its inputs, and runs it again
/// in the backward pass to differentiate it. Memory for what <c>fn</c> makes internally (a chunk of logits, say)
/// exists only while one call runs. Parameters that <c>fn</c> uses (captured, not passed as inputs) get their
/// gradients accumulated during that recomputation, as in PyTorch's reentrant checkpoint. The recomputation
/// uses the autocast precision of the forward call; <c>fn</c> must compute the same thing both times (no
/// randomness of its own).
/// </summary>
internal sealed class CheckpointFunction(Func<Tensor[], Tensor> fn) : Function("checkpoint")
{
    readonly MatmulPrecision _precision = Autocast.Current;

    protected override Tensor[] Forward(Tensor[] inputs)
    {
        Tensor result;
        using (var scope = new TensorScope())
        {
            var y = fn(inputs);
            // A fresh tensor owned outside this scope: y may be a view of a tensor the scope frees.
            result = scope.Keep(Tensor.Empty(y.Device, y.DType, y.Shape));
            InPlace.Copy(result, y);
        }
        return [result];
    }

    public override Tensor?[] Backward(Tensor[] gradOutputs)
    {
        var inputs = Inputs;
        var grads = new Tensor?[inputs.Count];
        using var enable = GradMode.Enable();
        using var precision = Autocast.Use(_precision);
        using var scope = new TensorScope();
        // Fresh leaves over the same storage: the recomputed graph ends at them, and their Grad is dx.
        var leaves = inputs.Select((x, i) =>
        {
            if (!NeedsInputGrad(i)) return x;
            var leaf = x.Detach();
            leaf.RequiresGrad = true;
            return leaf;
        }).ToArray();
        var y = fn(leaves);
        if (y.GradFn is null)
            throw new InvalidOperationException(
                "checkpoint: the function's output has no graph when recomputed; it must be computed from its inputs or from parameters that require gradients.");
        Backprop.Backward([y], [gradOutputs[0]]);
        for (int i = 0; i < leaves.Length; i++)
            if (NeedsInputGrad(i) && leaves[i].Grad is { } g) grads[i] = scope.Keep(g);
        return grads;
    }
}
