using Speedrun.Benchmark.OpSpecs;
using Speedrun.Core.Autograd;
using Speedrun.Tests.Torch;
using TorchSharp;
using TTensor = TorchSharp.torch.Tensor;

namespace Speedrun.Benchmarks;

/// <summary>
/// One op spec's <see cref="OpSpec.BenchCase"/> on both sides, on the same float32 data: ours is the op through the
/// engine (<see cref="OpSpec.Run"/>, F.*) on a device, forward and backward with the spec's seeded output
/// gradients; TorchSharp's is the spec's expression (<see cref="TorchOps.Reference"/>) in float32, forward and
/// autograd's backward with the same gradients. Inputs and output gradients are uploaded once in
/// <see cref="Setup"/>; both sides accumulate into their inputs' gradients, as a training step does. The text of
/// a case is its parameter value in the results table.
/// </summary>
public sealed class OpSpecCase(OpSpec spec) : IDisposable
{
    Device? _device;
    Tensor[] _inputs = [], _outputGrads = [];
    TTensor[] _leaves = [], _torchOutputGrads = [];
    long _bytes;

    public OpSpec Spec => spec;

    /// <summary>Uploads the case's seeded inputs and output gradients to both sides.</summary>
    public void Setup(Device device)
    {
        Dispose();
        _device = device;
        var c = spec.BenchCase;
        var inputs = OpExecution.Inputs(spec, c);
        _inputs = inputs.Select(i =>
        {
            if (i.Ints is { } ints) return Tensor.FromArray(device, ints, i.Shape);
            var t = Tensor.FromArray(device, i.Floats!, i.Shape);
            t.RequiresGrad = spec.HasBackward;
            return t;
        }).ToArray();
        _leaves = inputs.Select(i => i.Ints is { } ints
            ? torch.tensor(ints.Select(v => (long)v).ToArray(), Long(i.Shape))
            : torch.tensor(i.Floats!, Long(i.Shape)).requires_grad_(spec.HasBackward)).ToArray();

        int[][] outputShapes;
        using (new TensorScope())
        using (GradMode.NoGrad())
            outputShapes = spec.Run(_inputs).Select(o => o.Shape).ToArray();
        var dy = OpExecution.OutputGradients(spec, c, outputShapes);
        _outputGrads = dy.Select((g, j) => Tensor.FromArray(device, g, outputShapes[j])).ToArray();
        _torchOutputGrads = dy.Select((g, j) => torch.tensor(g, Long(outputShapes[j]))).ToArray();

        long inputCount = inputs.Sum(i => (long)(i.Floats?.Length ?? i.Ints!.Length));
        long floatInputCount = inputs.Sum(i => (long)(i.Floats?.Length ?? 0));
        long outputCount = dy.Sum(g => (long)g.Length);
        _bytes = 4 * (inputCount + outputCount + (spec.HasBackward ? outputCount + floatInputCount : 0));
    }

    /// <summary>Forward and backward through the engine in a scope of their own; synchronises before the scope
    /// frees the intermediates.</summary>
    public void RunOurs()
    {
        using var scope = new TensorScope();
        var outputs = spec.Run(_inputs);
        Backward(outputs);
        Device.Synchronize();
    }

    /// <summary>Forward and autograd's backward through the TorchSharp expression.</summary>
    public void RunTorch()
    {
        using var scope = torch.NewDisposeScope();
        var outputs = TorchOps.Reference[spec.Name](_leaves);
        if (!spec.HasBackward) return;
        var roots = Enumerable.Range(0, outputs.Length).Where(j => outputs[j].requires_grad).ToList();
        torch.autograd.backward(roots.Select(j => outputs[j]).ToList(), roots.Select(j => _torchOutputGrads[j]).ToList());
    }

    /// <summary>
    /// Runs both sides once from zero gradients and throws unless every output and input gradient agrees. Both are
    /// float32 summing in different orders, so the check is loose and scale-aware (|ours − torch| ≤
    /// 1e-5·max|torch| + 1e-4·|torch| per tensor): it proves both sides compute the same thing. How close ours is to
    /// the exact value is the op spec tests' job (float64 TorchSharp, the spec's tolerances).
    /// </summary>
    public void Validate()
    {
        foreach (var t in _inputs) t.ZeroGrad();
        foreach (var l in _leaves)
        {
            using var grad = l.grad;
            grad?.zero_();
        }
        var failures = new List<string>();
        using (var scope = new TensorScope())
        using (var torchScope = torch.NewDisposeScope())
        {
            var ours = spec.Run(_inputs);
            var theirs = TorchOps.Reference[spec.Name](_leaves);
            if (ours.Length != theirs.Length)
                throw new InvalidOperationException($"{this}: ours has {ours.Length} outputs, TorchSharp's {theirs.Length}.");
            for (int j = 0; j < ours.Length; j++)
            {
                if (!ours[j].Shape.Select(d => (long)d).SequenceEqual(theirs[j].shape))
                    failures.Add($"output {j}: shape {Tensor.ShapeText(ours[j].Shape)}, TorchSharp's ({string.Join(", ", theirs[j].shape)})");
                else Check($"output {j}", ours[j].ToArray(), Values(theirs[j]), failures);
            }
            Backward(ours);
            Device.Synchronize();
        }
        if (spec.HasBackward)
        {
            RunTorch();
            for (int i = 0; i < _inputs.Length; i++)
            {
                if (!_inputs[i].RequiresGrad) continue;
                using var grad = _leaves[i].grad;
                var reference = grad is null ? new double[_inputs[i].Length] : Values(grad);
                Check($"gradient of input {i}", _inputs[i].Grad!.ToArray(), reference, failures);
            }
        }
        if (failures.Count > 0)
            throw new InvalidOperationException($"disagrees with TorchSharp:\n{string.Join("\n", failures)}");
    }

    /// <summary>GB/s of the minimal traffic of one call: forward reads the inputs and writes the outputs, backward
    /// reads the output gradients and writes the input gradients.</summary>
    public string Throughput(double seconds) => $"{_bytes / seconds / 1e9:F2} GB/s";

    public override string ToString() => $"{spec.Name} {spec.BenchCase.Label}";

    public void Dispose()
    {
        foreach (var t in _inputs.Concat(_outputGrads)) t.Dispose();
        foreach (var t in _leaves.Concat(_torchOutputGrads)) t.Dispose();
        (_inputs, _outputGrads, _leaves, _torchOutputGrads) = ([], [], [], []);
        _device = null;
    }

    Device Device => _device ?? throw new InvalidOperationException($"{this}: Setup has not run.");

    void Backward(Tensor[] outputs)
    {
        if (!spec.HasBackward) return;
        var roots = Enumerable.Range(0, outputs.Length).Where(j => outputs[j].GradFn is not null).ToList();
        Backprop.Backward(roots.Select(j => outputs[j]).ToList(), roots.Select(j => _outputGrads[j]).ToList());
    }

    static void Check(string what, float[] ours, double[] reference, List<string> failures)
    {
        double scale = reference.Length == 0 ? 0 : reference.Max(Math.Abs);
        if (OpExecution.Compare(what, reference, ours, new Tolerance(1e-5 * scale, 1e-4)) is { } failure) failures.Add(failure.TrimEnd());
    }

    static double[] Values(TTensor t) => TensorData.Read<double>(t.detach().to_type(torch.ScalarType.Float64));

    static long[] Long(int[] shape) => shape.Select(d => (long)d).ToArray();
}
