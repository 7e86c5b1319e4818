using Speedrun.Core.Autograd;
using Speedrun.Core.Training.Modules;
using Speedrun.Core.Training.Optimizers;
using DeviceKind = Speedrun.Kernels.Runtime.DeviceKind;

namespace Speedrun.Benchmarks.Training;

/// <summary>
/// Record 1's model (the Gpt class of its Train.cs) on ILGPU's CPU accelerator, with the record's AdamW and
/// gradient clipping, stepping as the record's loop does: zero the gradients, forward and backward over
/// the micro-batches, clip, AdamW.
/// </summary>
sealed class SpeedrunTrainer : IDisposable
{
    readonly TinyRecordOne _run;
    readonly Device _device;
    readonly Module _model;
    readonly Func<Tensor, Tensor, Tensor> _loss;
    readonly IReadOnlyList<Tensor> _parameters;
    readonly AdamW _optimizer;
    readonly GradClip _clip;

    public SpeedrunTrainer(TinyRecordOne run, int seed)
    {
        _run = run;
        _device = Device.Create(DeviceKind.Cpu);
        var gpt = TinyRecordOne.Type("Gpt");
        _model = (Module)Activator.CreateInstance(gpt, _device, run.Hyperparameters, new Random(seed))!;
        _loss = gpt.GetMethod("Loss")!.CreateDelegate<Func<Tensor, Tensor, Tensor>>(_model);
        _parameters = _model.Parameters();
        _optimizer = new AdamW(new AdamW.Group(_parameters, run.LearningRate, 0.9f, 0.95f, 1e-8f, run.WeightDecay));
        _clip = new GradClip(_device);
    }

    /// <summary>The initial weights by name, to start the TorchSharp model from the same point.</summary>
    public IEnumerable<(string Name, float[] Values, int[] Shape)> Weights() =>
        _model.NamedParameters().Select(p => (p.Name, p.Value.ToArray(), p.Value.Shape));

    public long ParameterCount => _model.ParameterCount();

    /// <summary>
    /// The loss of the fixed batch (read on the host, which synchronises, as the records' per-step log line
    /// does); with <paramref name="backward"/> also the gradients, with <paramref name="update"/> also the
    /// clip and the AdamW step (at the peak learning rate).
    /// </summary>
    public float Step(bool backward, bool update)
    {
        if (backward) _model.ZeroGrad();
        float loss = 0;
        for (int micro = 0; micro < _run.Accumulation; micro++)
        {
            using var scope = new TensorScope();
            var x = Tensor.FromArray(_device, _run.Batch.Inputs, _run.MicroBatch, _run.SequenceLength);
            var y = Tensor.FromArray(_device, _run.Batch.Targets, _run.MicroBatch, _run.SequenceLength);
            var l = _loss(x, y);
            if (backward) l.Backward(1f / _run.Accumulation);
            loss += l.Item() / _run.Accumulation;
        }
        if (update)
        {
            _clip.ClipGradNorm(_parameters, _run.GradClip);
            _optimizer.Step(); // at the groups' initial (peak) learning rate
        }
        _device.Synchronize();
        return loss;
    }

    public void Dispose()
    {
        _clip.Dispose();
        _optimizer.Dispose();
        _model.Dispose();
        _device.Dispose();
    }
}
