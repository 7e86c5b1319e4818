using System.Reflection;
using Speedrun.Benchmark.Runs;
using Speedrun.Core.Autograd;
using Speedrun.Core.Training.Modules;
using Module = Speedrun.Core.Training.Modules.Module;

namespace Speedrun.Cli.Doctor;

/// <summary>
/// A record's model and optimizers built as its program's top-level code builds them, so that the doctor can time one
/// training step without the program's loop (top-level statements cannot be called): the program's Gpt from its
/// Hyperparameters (seed 0), its optimizers as <see cref="RecordOptimizers"/> wires them, and its matmul precision as
/// <see cref="RecordPrecision"/> reads it. One step: ZeroGrad, Loss(x, y) under the precision, backward, then
/// <see cref="OptimizerStep"/>.
/// </summary>
internal sealed class RecordTrainer : IDisposable
{
    readonly MethodInfo _loss;
    readonly RecordOptimizers _optimizers;
    int _step;

    RecordTrainer(Module model, MethodInfo loss, MatmulPrecision precision, RecordOptimizers optimizers)
    {
        Model = model;
        _loss = loss;
        Precision = precision;
        _optimizers = optimizers;
    }

    public Module Model { get; }
    public MatmulPrecision Precision { get; }
    /// <summary>What the optimizers are, for the log and the report.</summary>
    public string Optimizers => _optimizers.Description;

    /// <summary>Builds the record's Gpt from <paramref name="hp"/> (seed 0) and its optimizers.</summary>
    public static RecordTrainer Create(LoadedProgram program, Device device, object hp)
    {
        var gptType = program.Type("Gpt");
        var loss = gptType.GetMethod("Loss", [typeof(Tensor), typeof(Tensor)])
            ?? throw new NotSupportedException($"{program.SourcePath}: Gpt has no Loss(Tensor inputs, Tensor targets) for the doctor to call.");
        var precision = RecordPrecision.Of(program, device.IsCuda);
        var model = (Module)LoadedProgram.Unwrap(() => Activator.CreateInstance(gptType, device, hp, new Random(0))!);
        try
        {
            return new RecordTrainer(model, loss, precision, new RecordOptimizers(program, device, model, hp));
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>A compute-capability reason why a program cannot run on a device, or null: FP8 GEMMs (F.ScaledMatmul,
    /// cuBLASLt's fp8 kernels) need 8.9 (Ada, Hopper) or newer on CUDA; the CPU emulates them exactly.</summary>
    public static string? Fp8Problem(string source, bool isCuda, string computeCapability, string deviceName)
    {
        if (!isCuda || !source.Contains("ScaledMatmul", StringComparison.Ordinal)) return null;
        var parts = computeCapability.Split('.');
        if (parts.Length == 2 && int.TryParse(parts[0], out int major) && int.TryParse(parts[1], out int minor) &&
            (major > 8 || (major == 8 && minor >= 9)))
            return null;
        return $"it trains with FP8 GEMMs (F.ScaledMatmul, cuBLASLt fp8), which need a GPU of compute capability 8.9 or newer " +
               $"(Ada, Hopper); {deviceName} is {computeCapability}. Time it on an H100/H200 or L4/L40, or on the CPU device.";
    }

    /// <summary>Zeroes the gradients.</summary>
    public void ZeroGrad() => Model.ZeroGrad();

    /// <summary>The record's training loss of one micro-batch (B, T), under its matmul precision.</summary>
    public Tensor Loss(Tensor inputs, Tensor targets)
    {
        using (Autocast.Use(Precision)) return (Tensor)LoadedProgram.Unwrap(() => _loss.Invoke(Model, [inputs, targets]))!;
    }

    /// <summary>Every optimizer's step, as the record's loop runs them after the micro-steps.</summary>
    public void OptimizerStep() => _optimizers.Step(_step++);

    public void Dispose()
    {
        _optimizers.Dispose();
        Model.Dispose();
    }
}
