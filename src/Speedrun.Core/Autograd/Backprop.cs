using Speedrun.Kernels.Ops;

namespace Speedrun.Core.Autograd;

/// <summary>Reverse-mode differentiation over the Functions reachable from a root tensor.</summary>
public static class Backprop
{
    /// <summary>
    /// Accumulates d(seed·loss)/dθ into the Grad of every leaf that requires one, for a one-element
    /// <paramref name="loss"/> (torch's loss.backward()). Intermediate gradients live in the current
    /// TensorScope; what the ops saved is released as soon as backward has passed them, so a graph is
    /// differentiated once.
    /// </summary>
    public static void Backward(this Tensor loss, float seed = 1f)
    {
        if (loss.Length != 1)
            throw new ArgumentException($"Backward() needs a one-element loss, got {loss.Describe()}; pass the gradient of a larger tensor with Backward(gradient).");
        Run(loss, gradient: null, seed);
    }

    /// <summary>Backward from a tensor of any shape given its gradient (torch's y.backward(dy)).</summary>
    public static void Backward(this Tensor root, Tensor gradient)
    {
        if (!gradient.Shape.SequenceEqual(root.Shape) || gradient.DType != DType.F32)
            throw new ArgumentException($"Backward: the gradient {gradient.Describe()} must be F32 of the root's shape {root.Describe()}.");
        Run(root, gradient, 1f);
    }

    static void Run(Tensor root, Tensor? gradient, float seed)
    {
        var rootFn = root.GradFn ?? throw new InvalidOperationException(
            root.RequiresGrad
                ? $"{root.Describe()} is a leaf or its graph was already differentiated (a graph is used once)."
                : $"{root.Describe()} has no graph: it was computed with grad mode off or from tensors that need no gradient.");

        var order = TopologicalOrder(rootFn);
        var device = root.Device;
        var ops = device.Elementwise();
        Tensor? seedTensor = null;
        if (gradient is null)
        {
            seedTensor = Tensor.Persistent(device, DType.F32, root.Shape);
            ops.Fill(seedTensor.F32, seed);
        }
        // A Function may hand the same tensor to several inputs (Add does); only one may adopt it.
        var adopted = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        try
        {
            using var noGrad = GradMode.NoGrad();
            for (int i = order.Count - 1; i >= 0; i--)
            {
                var fn = order[i];
                var outputs = fn.Outputs;
                Tensor?[] grads;
                using (Profiler.IsActive ? Profiler.Op(fn.Name + ".backward") : default)
                {
                    if (ReferenceEquals(fn, rootFn) && outputs.Count == 1 && gradient is null)
                        grads = fn.BackwardFromSeed(seedTensor!, seed);
                    else if (OutputGrads(fn, root, gradient ?? seedTensor!) is { } gradOutputs)
                        grads = fn.Backward(gradOutputs);
                    else
                        grads = new Tensor?[fn.Inputs.Count]; // no path from the root reached this op
                }
                if (grads.Length != fn.Inputs.Count)
                    throw new InvalidOperationException($"{fn.Name}.Backward returned {grads.Length} gradients for {fn.Inputs.Count} inputs.");

                for (int k = 0; k < fn.Inputs.Count; k++)
                {
                    var input = fn.Inputs[k];
                    var grad = grads[k];
                    if (grad is null || !input.RequiresGrad) continue;
                    if (!grad.Shape.SequenceEqual(input.Shape))
                        throw new InvalidOperationException(
                            $"{fn.Name}.Backward returned a gradient of shape {Tensor.ShapeText(grad.Shape)} for input {k}, {input.Describe()}.");
                    if (input.Grad is null)
                    {
                        if (!adopted.Add(grad))
                        {
                            var copy = Tensor.Empty(device, grad.Shape);
                            ops.Copy(grad.F32, copy.F32);
                            grad = copy;
                            adopted.Add(copy);
                        }
                        input.Grad = grad; // adopt: the first contribution
                    }
                    else
                    {
                        ops.Accumulate(grad.F32, 1f, input.Grad.F32);
                    }
                }
                fn.Release();
                foreach (var output in outputs)
                {
                    if (!output.IsLeaf && !ReferenceEquals(output, root)) output.Grad = null; // the scope frees it
                    output.GradFn = null;
                }
            }
        }
        finally
        {
            seedTensor?.Dispose();
        }
    }

    /// <summary>The gradient of each output of <paramref name="fn"/> (zeros where none arrived), or null when
    /// none arrived at all.</summary>
    static Tensor[]? OutputGrads(Function fn, Tensor root, Tensor rootGradient)
    {
        var outputs = fn.Outputs;
        Tensor[]? result = null;
        for (int j = 0; j < outputs.Count; j++)
        {
            var g = ReferenceEquals(outputs[j], root) ? rootGradient : outputs[j].Grad;
            if (g is null) continue;
            result ??= new Tensor[outputs.Count];
            result[j] = g;
        }
        if (result is null) return null;
        for (int j = 0; j < outputs.Count; j++)
            result[j] ??= Tensor.Zeros(outputs[j].Device, outputs[j].Shape);
        return result;
    }

    static List<Function> TopologicalOrder(Function root)
    {
        var order = new List<Function>();
        var visited = new HashSet<Function>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(Function Fn, bool Expanded)>();
        stack.Push((root, false));
        while (stack.Count > 0)
        {
            var (fn, expanded) = stack.Pop();
            if (expanded) { order.Add(fn); continue; }
            if (!visited.Add(fn)) continue;
            stack.Push((fn, true));
            foreach (var input in fn.Inputs)
                if (input.GradFn is { } child && !visited.Contains(child))
                    stack.Push((child, false));
        }
        return order; // inputs before the ops that consume them
    }
}
