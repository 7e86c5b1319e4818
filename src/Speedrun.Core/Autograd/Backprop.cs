using Speedrun.Kernels.Ops;

namespace Speedrun.Core.Autograd;

/// <summary>Reverse-mode differentiation over the nodes reachable from a scalar loss.</summary>
public static class Backprop
{
    /// <summary>
    /// Accumulates d(seed·loss)/dθ into every parameter's Grad. Intermediate gradients live in the current
    /// TensorScope; saved activations are released as soon as backward has passed their node.
    /// </summary>
    public static void Backward(this Tensor loss, float seed = 1f)
    {
        if (loss.Length != 1) throw new ArgumentException($"Backward needs a scalar loss, got {loss.Describe()}.");
        if (loss.Creator is null)
            throw new InvalidOperationException(
                "The loss has no graph: it was computed with grad mode off or from tensors that need no gradient.");

        var order = TopologicalOrder(loss.Creator);
        var device = loss.Device;
        var ops = device.Elementwise();
        using var seedTensor = Tensor.Persistent(device, DType.F32, 1);
        ops.Fill(seedTensor.F32, seed);
        // A node may hand the same tensor to several inputs (Add does); only one may adopt it.
        var adopted = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);

        for (int i = order.Count - 1; i >= 0; i--)
        {
            var node = order[i];
            var output = node.Output!;
            Tensor?[] grads;
            using var span = Profiler.Op(node.Name + ".backward");
            if (ReferenceEquals(node, loss.Creator))
                grads = node.BackwardFromSeed(seedTensor, seed);
            else if (output.Grad is { } g)
                grads = node.Backward(g);
            else
                grads = new Tensor?[node.Inputs.Length]; // no path from the loss reached this output

            for (int k = 0; k < node.Inputs.Length; k++)
            {
                var input = node.Inputs[k];
                var grad = grads[k];
                if (grad is null || !input.RequiresGrad) continue;
                if (input.Grad is null)
                {
                    if (!adopted.Add(grad))
                    {
                        var copy = Tensor.Empty(device, grad.Shape);
                        ops.Copy(grad.F32, copy.F32);
                        grad = copy;
                        adopted.Add(copy);
                    }
                    input.Grad = grad; // adopt: first contribution
                }
                else
                {
                    ops.Accumulate(grad.F32, 1f, input.Grad.F32);
                }
            }
            node.Release();
            if (!output.IsLeaf && !ReferenceEquals(output, loss)) output.Grad = null; // scope frees it
            output.Creator = null;
        }
    }

    static List<Node> TopologicalOrder(Node root)
    {
        var order = new List<Node>();
        var visited = new HashSet<Node>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(Node Node, bool Expanded)>();
        stack.Push((root, false));
        while (stack.Count > 0)
        {
            var (node, expanded) = stack.Pop();
            if (expanded) { order.Add(node); continue; }
            if (!visited.Add(node)) continue;
            stack.Push((node, true));
            foreach (var input in node.Inputs)
                if (input.Creator is { } child && !visited.Contains(child))
                    stack.Push((child, false));
        }
        return order; // inputs before the nodes that consume them
    }
}
