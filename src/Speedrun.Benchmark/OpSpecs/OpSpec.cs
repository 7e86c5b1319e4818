using Speedrun.Core.Autograd;

namespace Speedrun.Benchmark.OpSpecs;

/// <summary>How an input's values are drawn (seeded).</summary>
public enum InputValues
{
    /// <summary>N(0, scale²).</summary>
    Normal,
    /// <summary>|N(0, scale²)| + 0.5·scale: away from 0 (divisors, square roots).</summary>
    Positive,
    /// <summary>Token ids or targets in [0, classes) (int).</summary>
    Tokens,
}

/// <summary>One input of an op case: its shape, how its values are drawn, and whether gradients flow to it.</summary>
public sealed record OpInput(int[] Shape, InputValues Values = InputValues.Normal, float Scale = 1f, int Classes = 0)
{
    /// <summary>Float inputs are differentiated; token ids are not.</summary>
    public bool Differentiable => Values != InputValues.Tokens;

    /// <summary>A normal float input.</summary>
    public static OpInput Of(params int[] shape) => new(shape);

    /// <summary>A float input away from zero.</summary>
    public static OpInput Positive(params int[] shape) => new(shape, InputValues.Positive);

    /// <summary>Int ids in [0, classes).</summary>
    public static OpInput Tokens(int classes, params int[] shape) => new(shape, InputValues.Tokens, Classes: classes);

    /// <summary>"(2, 3)" or "ids(2, 3)".</summary>
    public override string ToString() => (Values == InputValues.Tokens ? "ids" : "") + Tensor.ShapeText(Shape);
}

/// <summary>The inputs of one run of an op.</summary>
public sealed record OpCase(string Label, IReadOnlyList<OpInput> Inputs)
{
    /// <summary>A case labelled by its input shapes.</summary>
    public static OpCase Of(params OpInput[] inputs) => new(string.Join(" ", inputs.Select(i => i.ToString())), inputs);

    /// <inheritdoc/>
    public override string ToString() => Label;
}

/// <summary>|ours − reference| ≤ Atol + Rtol·|reference|, element-wise.</summary>
public sealed record Tolerance(double Atol, double Rtol);

/// <summary>
/// One engine op, once, for every check that concerns it: the tests compare it with TorchSharp on
/// <see cref="TestCases"/> (forward and the gradient of every float input), `speedrun doctor` runs
/// <see cref="DeviceCase"/> on CUDA and on the CPU and compares them, and the benchmarks time
/// <see cref="BenchCase"/> against TorchSharp. The reference for a spec is the TorchSharp expression registered
/// under its <see cref="Name"/> in the tests (tests/Shared/TorchOps.cs); a test fails if either side is missing.
/// </summary>
public sealed class OpSpec
{
    /// <summary>Unique; the key of the TorchSharp reference.</summary>
    public required string Name { get; init; }

    /// <summary>The op through the engine's public API (F.*), from device tensors to its outputs.</summary>
    public required Func<Tensor[], Tensor[]> Run { get; init; }

    /// <summary>Small and awkward shapes for the tests (odd sizes, tails of every loop, broadcasting forms).</summary>
    public required IReadOnlyList<OpCase> TestCases { get; init; }

    /// <summary>A case big enough to fill a GPU a little, for the CUDA-vs-CPU check.</summary>
    public required OpCase DeviceCase { get; init; }

    /// <summary>The shape record 1's tiny-track step gives the op (or a representative one), for the benchmarks.</summary>
    public required OpCase BenchCase { get; init; }

    /// <summary>Allowed error of the outputs against float64 TorchSharp on the same float32 inputs.</summary>
    public Tolerance Forward { get; init; } = new(1e-6, 1e-6);

    /// <summary>Allowed error of the input gradients against float64 TorchSharp autograd.</summary>
    public Tolerance Backward { get; init; } = new(1e-6, 1e-6);

    /// <summary>Allowed error of <see cref="DeviceCase"/>'s outputs against float64, where its longer sums need more
    /// than <see cref="Forward"/> (null: <see cref="Forward"/>). The doctor allows twice it between two devices.</summary>
    public Tolerance? DeviceForward { get; init; }

    /// <summary>The same for <see cref="DeviceCase"/>'s input gradients (null: <see cref="Backward"/>).</summary>
    public Tolerance? DeviceBackward { get; init; }

    /// <summary>Whether the op has a backward to check (every op here does).</summary>
    public bool HasBackward { get; init; } = true;

    /// <summary>Why the tolerances are what they are, and anything else a reader should know.</summary>
    public string Notes { get; init; } = "";

    /// <inheritdoc/>
    public override string ToString() => Name;
}
