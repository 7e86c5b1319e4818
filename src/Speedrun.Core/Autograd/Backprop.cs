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
    public static void Backward(this Tensor root, Tensor gradient) => Backward([root], [gradient]);

    /// <summary>Backward from several tensors at once, each with its gradient (torch.autograd.backward).</summary>
    public static void Backward(IReadOnlyList<Tensor> roots, IReadOnlyList<Tensor> gradients)
    {
        if (roots.Count == 0 || roots.Count != gradients.Count)
            throw new ArgumentException($"Backward: {roots.Count} roots and {gradients.Count} gradients; give one gradient per root.");
        for (int i = 0; i < roots.Count; i++)
            if (!gradients[i].Shape.SequenceEqual(roots[i].Shape) || gradients[i].DType != DType.F32)
                throw new ArgumentException($"Backward: the gradient {gradients[i].Describe()} must be F32 of the root's shape {roots[i].Describe()}.");
        Run(roots, gradients, 1f);
    }

    static void Run(Tensor root, Tensor? gradient, float seed) => Run([root], gradient is null ? null : [gradient], seed);

    static void Run(IReadOnlyList<Tensor> roots, IReadOnlyList<Tensor>? gradients, float seed)
    {
        foreach (var r in roots)
            if (r.GradFn is null)
                throw new InvalidOperationException(
                    r.RequiresGrad
                        ? $"{r.Describe()} is a leaf or its graph was already differentiated (a graph is used once)."
                        : $"{r.Describe()} has no graph: it was computed with grad mode off or from tensors that need no gradient.");
        var root = roots[0];
        var rootFn = root.GradFn!;
        var order = TopologicalOrder(roots.Select(r => r.GradFn!));
        var device = root.Device;
        var ops = device.Elementwise();
        Tensor? seedTensor = null;
        var rootGrads = new Dictionary<Tensor, Tensor>(ReferenceEqualityComparer.Instance);
        if (gradients is null)
        {
            seedTensor = Tensor.Persistent(device, DType.F32, root.Shape);
            ops.Fill(seedTensor.F32, seed);
            rootGrads[root] = seedTensor;
        }
        else
        {
            for (int i = 0; i < roots.Count; i++)
                if (!rootGrads.TryAdd(roots[i], gradients[i])) throw new ArgumentException("Backward: a root is given twice.");
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
                    if (ReferenceEquals(fn, rootFn) && outputs.Count == 1 && gradients is null)
                        grads = fn.BackwardFromSeed(seedTensor!, seed);
                    else if (OutputGrads(fn, rootGrads) is { } gradOutputs)
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
                    if (!output.IsLeaf && !rootGrads.ContainsKey(output)) output.Grad = null; // the scope frees it
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
    static Tensor[]? OutputGrads(Function fn, Dictionary<Tensor, Tensor> rootGrads)
    {
        var outputs = fn.Outputs;
        Tensor[]? result = null;
        for (int j = 0; j < outputs.Count; j++)
        {
            var g = rootGrads.TryGetValue(outputs[j], out var rg) ? rg : outputs[j].Grad;
            if (g is not null && rg is not null && outputs[j].Grad is { } more)
            {
                // A root that other outputs also flow into: its gradient is the given one plus theirs.
                var sum = Tensor.Empty(more.Device, more.Shape);
                more.Device.Elementwise().Add(rg.F32, more.F32, sum.F32);
                g = sum;
            }
            if (g is null) continue;
            result ??= new Tensor[outputs.Count];
            result[j] = g;
        }
        if (result is null) return null;
        for (int j = 0; j < outputs.Count; j++)
            result[j] ??= Tensor.Zeros(outputs[j].Device, outputs[j].Shape);
        return result;
    }

    static List<Function> TopologicalOrder(IEnumerable<Function> roots)
    {
        var order = new List<Function>();
        var visited = new HashSet<Function>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(Function Fn, bool Expanded)>();
        foreach (var root in roots.Reverse()) stack.Push((root, false));
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
