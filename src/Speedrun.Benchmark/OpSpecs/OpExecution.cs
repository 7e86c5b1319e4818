using System.Text;
using Speedrun.Core.Autograd;

namespace Speedrun.Benchmark.OpSpecs;

/// <summary>Host values of one input: floats, or ints for token ids.</summary>
public sealed record HostInput(int[] Shape, float[]? Floats, int[]? Ints);

/// <summary>What one run of an op produced: its outputs and the gradient of each input (null for int inputs).</summary>
public sealed record OpResult(IReadOnlyList<float[]> Outputs, IReadOnlyList<int[]> OutputShapes, IReadOnlyList<float[]?> InputGrads);

/// <summary>
/// Runs an <see cref="OpSpec"/> the same way for every consumer: seeded inputs and output gradients (the same
/// values for a spec and case on every machine), forward through the engine, backward with the output
/// gradients, everything downloaded. Comparisons report the worst element as llm.c's check_tensor does.
/// </summary>
public static class OpExecution
{
    /// <summary>A stable seed from text (string.GetHashCode differs between processes).</summary>
    public static int Seed(string text)
    {
        uint h = 2166136261;
        foreach (char c in text) h = (h ^ c) * 16777619;
        return (int)(h & 0x7FFFFFFF);
    }

    /// <summary>The inputs of a case, drawn from a seed of the spec's name and the case's label.</summary>
    public static HostInput[] Inputs(OpSpec spec, OpCase c)
    {
        var rng = new Random(Seed(spec.Name + "|" + c.Label));
        return c.Inputs.Select(input =>
        {
            long n = input.Shape.Aggregate(1L, (a, d) => a * d);
            if (input.Values == InputValues.Tokens)
                return new HostInput(input.Shape, null, Enumerable.Range(0, (int)n).Select(_ => rng.Next(input.Classes)).ToArray());
            var values = new float[n];
            for (long i = 0; i < n; i++)
            {
                double v = Normal(rng) * input.Scale;
                values[i] = (float)(input.Values == InputValues.Positive ? Math.Abs(v) + 0.5 * input.Scale : v);
            }
            return new HostInput(input.Shape, values, null);
        }).ToArray();
    }

    /// <summary>The gradient fed to each output in backward, N(0, 1), seeded like the inputs.</summary>
    public static float[][] OutputGradients(OpSpec spec, OpCase c, IReadOnlyList<int[]> outputShapes)
    {
        var rng = new Random(Seed(spec.Name + "|" + c.Label + "|dy"));
        return outputShapes.Select(s => Enumerable.Range(0, s.Aggregate(1, (a, d) => a * d)).Select(_ => (float)Normal(rng)).ToArray()).ToArray();
    }

    /// <summary>Uploads the inputs (floats as leaves that require grad), runs the op and, when it has a backward,
    /// backpropagates the case's output gradients. Everything runs in a TensorScope of its own.</summary>
    public static OpResult Execute(Device device, OpSpec spec, OpCase c, HostInput[]? inputs = null)
    {
        inputs ??= Inputs(spec, c);
        using var scope = new TensorScope();
        var tensors = inputs.Select(i =>
        {
            if (i.Ints is { } ints) return Tensor.FromArray(device, ints, i.Shape);
            var t = Tensor.FromArray(device, i.Floats!, i.Shape);
            if (spec.HasBackward) t.RequiresGrad = true;
            return t;
        }).ToArray();
        var outputs = spec.Run(tensors);
        var values = outputs.Select(o => o.ToArray()).ToList();
        var shapes = outputs.Select(o => o.Shape).ToList();
        var grads = new float[]?[tensors.Length];
        if (spec.HasBackward)
        {
            var dy = OutputGradients(spec, c, shapes);
            var roots = outputs.Select((o, j) => (o, j)).Where(p => p.o.GradFn is not null).ToList();
            Backprop.Backward(roots.Select(p => p.o).ToList(), roots.Select(p => Tensor.FromArray(device, dy[p.j], shapes[p.j])).ToList());
            for (int i = 0; i < tensors.Length; i++)
                if (inputs[i].Floats is not null) grads[i] = tensors[i].Grad!.ToArray();
        }
        return new OpResult(values, shapes, grads);
    }

    /// <summary>Null when every element is within the tolerance; otherwise a report naming the worst element.</summary>
    public static string? Compare(string what, ReadOnlySpan<double> expected, ReadOnlySpan<float> actual, Tolerance tolerance)
    {
        if (expected.Length != actual.Length) return $"{what}: expected {expected.Length} values, got {actual.Length}";
        int bad = 0, worst = -1;
        double worstRatio = 0, maxAbs = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double diff = Math.Abs(actual[i] - expected[i]);
            double allowed = tolerance.Atol + tolerance.Rtol * Math.Abs(expected[i]);
            double ratio = double.IsNaN(diff) ? double.PositiveInfinity : allowed > 0 ? diff / allowed : diff > 0 ? double.PositiveInfinity : 0;
            if (ratio > worstRatio || worst < 0) (worstRatio, worst) = (ratio, i);
            if (!(diff <= allowed)) bad++;
            if (!double.IsNaN(diff)) maxAbs = Math.Max(maxAbs, diff);
        }
        if (bad == 0) return null;
        var sb = new StringBuilder();
        sb.AppendLine($"{what}: {bad} of {expected.Length} values outside atol={tolerance.Atol:G3} rtol={tolerance.Rtol:G3}; " +
                      $"max abs diff {maxAbs:G4}; worst at [{worst}] expected {expected[worst]:G8} got {actual[worst]:G8}");
        for (int i = 0; i < Math.Min(6, expected.Length); i++)
            sb.AppendLine($"  [{i}] expected {expected[i]:G8} got {actual[i]:G8}");
        return sb.ToString();
    }

    /// <summary>The largest |a − b| and |a − b|/|a| over two runs' values.</summary>
    public static (double MaxAbs, double MaxRel) Distance(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double maxAbs = 0, maxRel = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double diff = Math.Abs((double)a[i] - b[i]);
            if (double.IsNaN(diff)) diff = double.PositiveInfinity;
            maxAbs = Math.Max(maxAbs, diff);
            if (a[i] != 0) maxRel = Math.Max(maxRel, diff / Math.Abs(a[i]));
        }
        return (maxAbs, maxRel);
    }

    static double Normal(Random rng)
    {
        double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
