using System.Text;

namespace Speedrun.Core.Autograd;

/// <summary>Settings of <see cref="Gradcheck.Check(Func{Tensor[], Tensor[]}, Tensor[], GradcheckOptions?)"/>.</summary>
/// <param name="Step">The finite-difference step, relative: h = Step·max(1, |x|).</param>
/// <param name="Atol">Allowed absolute error of each gradient element.</param>
/// <param name="Rtol">Allowed error relative to the numerical value.</param>
/// <param name="MaxElements">Elements checked per input at most (a seeded sample beyond that).</param>
/// <param name="Seed">Seeds the output weights and the sample.</param>
public sealed record GradcheckOptions(double Step = 1e-2, double Atol = 1e-4, double Rtol = 1e-3, int MaxElements = 4096, int Seed = 0);

/// <summary>What <see cref="Gradcheck"/> compared: elements checked and the worst errors.</summary>
public sealed record GradcheckResult(int ElementsChecked, double MaxAbsError, double MaxRelError);

/// <summary>
/// torch.autograd.gradcheck for programs without TorchSharp: compares a function's backward (its Functions'
/// Backward) with central finite differences. With random weights u (one per output element, seeded) it
/// differentiates φ(x) = Σ u·f(x): the analytic side is one backward pass with gradient u; the numerical side
/// perturbs each input element by ±h and ±h/2 and combines the two central differences by Richardson
/// extrapolation, (4·D(h/2) − D(h))/3, so truncation error is O(h⁴). The function runs in fp32 like every
/// op here; the differences, the weighting and the division are done in float64 on the host, element by
/// element of the outputs, so rounding adds only about ulp(f)/h. Use small shapes: each checked element
/// costs four forward passes. Functions with kinks (relu at 0) need inputs away from them.
/// </summary>
public static class Gradcheck
{
    /// <summary>Checks a one-output function; throws with a report naming the worst elements if a gradient is off.</summary>
    public static GradcheckResult Check(Func<Tensor[], Tensor> function, Tensor[] inputs, GradcheckOptions? options = null) =>
        Check(x => [function(x)], inputs, options);

    /// <summary>Checks a function of several outputs; F32 inputs are differentiated, others (token ids) are
    /// passed through unchanged.</summary>
    public static GradcheckResult Check(Func<Tensor[], Tensor[]> function, Tensor[] inputs, GradcheckOptions? options = null)
    {
        var o = options ?? new GradcheckOptions();
        var device = inputs[0].Device;
        var values = inputs.Select(t => t.DType == DType.F32 ? t.ToArray() : null).ToArray();
        var rng = new Random(o.Seed);

        // Analytic: one backward pass with random output gradients.
        double[][] weights;
        float[]?[] analytic = new float[]?[inputs.Length];
        using (var scope = new TensorScope())
        {
            var leaves = Leaves(inputs, values, requireGrad: true);
            var outputs = function(leaves);
            weights = outputs.Select(t => Enumerable.Range(0, (int)t.Length).Select(_ => Normal(rng)).ToArray()).ToArray();
            var grads = outputs.Select((t, j) => Tensor.FromArray(device, weights[j].Select(w => (float)w).ToArray(), t.Shape)).ToArray();
            var differentiable = outputs.Select((t, j) => (t, j)).Where(p => p.t.GradFn is not null).ToList();
            if (differentiable.Count == 0)
                throw new InvalidOperationException("Gradcheck: no output depends on a differentiable input (is grad mode off?).");
            Backprop.Backward(differentiable.Select(p => p.t).ToList(), differentiable.Select(p => grads[p.j]).ToList());
            for (int i = 0; i < inputs.Length; i++)
                if (values[i] is not null) analytic[i] = leaves[i].Grad?.ToArray() ?? new float[values[i]!.Length];
        }
        // Weights were rounded to float32 on the device: use exactly those.
        weights = weights.Select(w => w.Select(v => (double)(float)v).ToArray()).ToArray();

        // φ(x±h) differ only where the perturbation reaches; summing the difference per output element keeps the
        // cancellation in float64 (see the class summary).
        // The central difference (φ(x + h) − φ(x − h)) / 2h, over the step actually taken in float32.
        double Central(int input, int element, double h)
        {
            var up = Outputs(input, element, h, out double dUp);
            var down = Outputs(input, element, -h, out double dDown);
            double diff = 0;
            for (int j = 0; j < up.Length; j++)
                for (int e = 0; e < up[j].Length; e++)
                    diff += weights[j][e] * ((double)up[j][e] - down[j][e]);
            return diff / (dUp - dDown);
        }

        float[][] Outputs(int input, int element, double delta, out double actualDelta)
        {
            var perturbed = (float[])values[input]!.Clone();
            float x = perturbed[element];
            perturbed[element] = (float)(x + delta);
            actualDelta = perturbed[element] - (double)x;
            var copies = (float[]?[])values.Clone();
            copies[input] = perturbed;
            using var scope = new TensorScope();
            using (GradMode.NoGrad())
                return function(Leaves(inputs, copies, requireGrad: false)).Select(t => t.ToArray()).ToArray();
        }

        int checkedCount = 0;
        double maxAbs = 0, maxRel = 0;
        var failures = new List<string>();
        for (int i = 0; i < inputs.Length; i++)
        {
            if (values[i] is not { } x) continue;
            var elements = Enumerable.Range(0, x.Length).ToArray();
            if (elements.Length > o.MaxElements) elements = elements.OrderBy(_ => rng.Next()).Take(o.MaxElements).Order().ToArray();
            foreach (int e in elements)
            {
                double h = o.Step * Math.Max(1.0, Math.Abs(x[e]));
                double numeric = (4 * Central(i, e, h / 2) - Central(i, e, h)) / 3;
                double got = analytic[i]![e];
                double err = Math.Abs(got - numeric);
                double allowed = o.Atol + o.Rtol * Math.Abs(numeric);
                maxAbs = Math.Max(maxAbs, err);
                if (numeric != 0) maxRel = Math.Max(maxRel, err / Math.Abs(numeric));
                checkedCount++;
                if (!(err <= allowed))
                    failures.Add($"  input {i} {inputs[i].Describe()} element {e}: backward {got:G8}, finite differences {numeric:G8} (error {err:G3}, allowed {allowed:G3})");
            }
        }
        if (failures.Count > 0)
        {
            var sb = new StringBuilder();
            sb.AppendLine($"Gradcheck: {failures.Count} of {checkedCount} gradient elements disagree with finite differences (step {o.Step}, atol {o.Atol}, rtol {o.Rtol}):");
            foreach (var f in failures.Take(10)) sb.AppendLine(f);
            if (failures.Count > 10) sb.AppendLine($"  ... and {failures.Count - 10} more");
            throw new InvalidOperationException(sb.ToString());
        }
        return new GradcheckResult(checkedCount, maxAbs, maxRel);
    }

    static Tensor[] Leaves(Tensor[] inputs, float[]?[] values, bool requireGrad) =>
        inputs.Select((t, i) =>
        {
            if (values[i] is not { } v) return t;
            var leaf = Tensor.FromArray(t.Device, v, t.Shape);
            if (requireGrad) leaf.RequiresGrad = true;
            return leaf;
        }).ToArray();

    static double Normal(Random rng)
    {
        double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
