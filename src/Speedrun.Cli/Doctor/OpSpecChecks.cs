using Speedrun.Benchmark.OpSpecs;
using Speedrun.Core.Autograd;

namespace Speedrun.Cli.Doctor;

/// <summary>
/// Every engine op, from its spec (src/Speedrun.Benchmark/OpSpecs), on CUDA and on the CPU: the spec's
/// <see cref="OpSpec.DeviceCase"/> runs forward and backward on both devices with the same seeded inputs and
/// output gradients, and every output and input gradient is compared with the CPU's values as the reference.
/// Each device is within the spec's tolerance of float64 TorchSharp, so two devices may differ by twice it: the
/// tolerance here is twice <see cref="OpSpec.Forward"/> for outputs and twice <see cref="OpSpec.Backward"/> for
/// gradients, or twice <see cref="OpSpec.DeviceForward"/>/<see cref="OpSpec.DeviceBackward"/> where the device
/// case's longer sums need more than the test cases. One agreement line per spec.
/// </summary>
internal static class OpSpecChecks
{
    /// <summary>Checks every spec on <paramref name="device"/> against <paramref name="reference"/>.</summary>
    public static void Run(Device device, Device reference, DoctorReport report, TextWriter log)
    {
        foreach (var spec in AllOpSpecs.All)
        {
            try
            {
                var agreement = Check(spec, device, reference);
                report.Kernels.Add(agreement);
                log.WriteLine(agreement.Describe());
            }
            catch (Exception e)
            {
                report.Errors.Add($"op {spec.Name}: {e.GetType().Name}: {e.Message}");
                log.WriteLine($"  FAIL {spec.Name}: {e}");
            }
        }
    }

    /// <summary>Runs the spec's device case on both devices (the same inputs) and compares the results.</summary>
    public static KernelAgreement Check(OpSpec spec, Device device, Device reference)
    {
        var inputs = OpExecution.Inputs(spec, spec.DeviceCase);
        reference.Accelerator.Bind();
        var expected = OpExecution.Execute(reference, spec, spec.DeviceCase, inputs);
        device.Accelerator.Bind();
        var actual = OpExecution.Execute(device, spec, spec.DeviceCase, inputs);
        return Compare(spec, actual, expected);
    }

    /// <summary>
    /// Compares one run of a spec's device case with a reference run: outputs within twice the spec's forward
    /// tolerance, input gradients within twice its backward tolerance (the device-case ones where the spec has
    /// them), element-wise against the reference's values. A difference in
    /// the number or shape of the tensors fails the check.
    /// </summary>
    public static KernelAgreement Compare(OpSpec spec, OpResult actual, OpResult expected)
    {
        var outputs = Twice(spec.DeviceForward ?? spec.Forward);
        var gradients = spec.HasBackward ? Twice(spec.DeviceBackward ?? spec.Backward) : null;
        var failures = new List<string>();
        long count = 0;
        double maxAbs = 0, maxRel = 0;

        void CompareTensor(string what, float[] reference, float[] values, Tolerance tolerance)
        {
            count += reference.Length;
            if (reference.Length == values.Length)
            {
                var (abs, rel) = OpExecution.Distance(reference, values);
                (maxAbs, maxRel) = (Math.Max(maxAbs, abs), Math.Max(maxRel, rel));
            }
            if (OpExecution.Compare(what, reference.Select(v => (double)v).ToArray(), values, tolerance) is { } failure)
                failures.Add(failure);
        }

        if (actual.Outputs.Count != expected.Outputs.Count)
            failures.Add($"number of outputs: expected {expected.Outputs.Count}, got {actual.Outputs.Count}");
        for (int j = 0; j < Math.Min(actual.Outputs.Count, expected.Outputs.Count); j++)
        {
            if (!actual.OutputShapes[j].SequenceEqual(expected.OutputShapes[j]))
                failures.Add($"output {j}: shape {Tensor.ShapeText(actual.OutputShapes[j])}, expected {Tensor.ShapeText(expected.OutputShapes[j])}");
            CompareTensor($"output {j}", expected.Outputs[j], actual.Outputs[j], outputs);
        }
        if (gradients is not null)
        {
            if (actual.InputGrads.Count != expected.InputGrads.Count)
                failures.Add($"number of input gradients: expected {expected.InputGrads.Count}, got {actual.InputGrads.Count}");
            for (int i = 0; i < Math.Min(actual.InputGrads.Count, expected.InputGrads.Count); i++)
            {
                if (expected.InputGrads[i] is not { } reference) continue; // token ids have none
                if (actual.InputGrads[i] is { } values) CompareTensor($"gradient of input {i}", reference, values, gradients);
                else failures.Add($"gradient of input {i}: missing");
            }
        }
        return new KernelAgreement(spec.Name, count, maxAbs, maxRel, outputs, gradients, failures.Count == 0,
            failures.Count == 0 ? null : string.Join("\n", failures.Select(f => f.TrimEnd())));
    }

    static Tolerance Twice(Tolerance t) => new(2 * t.Atol, 2 * t.Rtol);
}
