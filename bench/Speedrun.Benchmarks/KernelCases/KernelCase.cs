using ILGPU;
using ILGPU.Runtime;
using Speedrun.Tests.Torch;
using TorchSharp;
using TTensor = TorchSharp.torch.Tensor;

namespace Speedrun.Benchmarks.KernelCases;

/// <summary>
/// One op of one kernel family at one shape: our ILGPU kernel on the CPU accelerator and TorchSharp's
/// equivalent, on the same float32 data. <see cref="Prepare"/> allocates both sides' inputs,
/// <see cref="Validate"/> runs each once and throws if they disagree, then the benchmark times
/// <see cref="RunOurs"/> (the benchmark synchronises the device after it) against <see cref="RunTorch"/>.
/// The text of a case is its parameter value in the results table.
/// </summary>
public abstract class KernelCase : IDisposable
{
    readonly List<IDisposable> _owned = new();
    Device? _device;

    protected KernelCase(string name) => Name = name;

    public string Name { get; }

    protected Device Device => _device ?? throw new InvalidOperationException($"{Name}: Setup has not run.");

    public void Setup(Device device)
    {
        _device = device;
        Prepare();
    }

    /// <summary>Allocates and fills the inputs of both sides (through the helpers below, which own them).</summary>
    protected abstract void Prepare();

    public abstract void RunOurs();

    public abstract void RunTorch();

    /// <summary>Runs both sides once on the prepared inputs and throws if the results disagree.</summary>
    public abstract void Validate();

    /// <summary>The work of one call per second, with its unit ("12.3 GB/s").</summary>
    public abstract string Throughput(double seconds);

    public override string ToString() => Name;

    public void Dispose()
    {
        for (int i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose();
        _owned.Clear();
        _device = null;
        GC.SuppressFinalize(this);
    }

    // ---- helpers: data, device buffers, torch tensors, checks, units ----

    /// <summary>Seeded standard-normal values times <paramref name="scale"/>.</summary>
    protected static float[] Normal(int seed, long count, float scale = 1f) =>
        Speedrun.Core.Training.Modules.Init.Normal(new Random(seed), count, scale);

    /// <summary>Seeded token ids in [0, vocab).</summary>
    protected static int[] Tokens(int seed, int count, int vocab)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => rng.Next(vocab)).ToArray();
    }

    protected T Own<T>(T resource) where T : IDisposable
    {
        _owned.Add(resource);
        return resource;
    }

    protected ArrayView<float> Upload(float[] values) => Own(Device.Accelerator.Allocate1D(values)).View;

    protected ArrayView<int> Upload(int[] values) => Own(Device.Accelerator.Allocate1D(values)).View;

    /// <summary>A zeroed device buffer.</summary>
    protected ArrayView<float> Zeros(long count)
    {
        var buffer = Own(Device.Accelerator.Allocate1D<float>(count));
        buffer.MemSetToZero();
        return buffer.View;
    }

    protected float[] Download(ArrayView<float> view)
    {
        Device.Synchronize();
        var values = new float[view.Length];
        view.CopyToCPU(values);
        return values;
    }

    protected TTensor Tensor(float[] values, params long[] shape) => Own(torch.tensor(values, shape));

    protected TTensor Tensor(int[] values, params long[] shape) =>
        Own(torch.tensor(values.Select(v => (long)v).ToArray(), shape));

    /// <summary>A float32 leaf that records a graph (for backward references).</summary>
    protected TTensor Leaf(float[] values, params long[] shape) =>
        Own(torch.tensor(values, shape).requires_grad_());

    protected static float[] Values(TTensor t) => TensorData.Read<float>(t.detach());

    /// <summary>Throws unless |ours - reference| ≤ atol + rtol·|reference| everywhere (NaN never passes),
    /// naming the worst element.</summary>
    protected void Check(string what, float[] ours, float[] reference, double atol, double rtol)
    {
        if (ours.Length != reference.Length)
            throw new InvalidOperationException($"{Name}: {what} has {ours.Length} values, the reference {reference.Length}.");
        int bad = 0, worst = 0;
        double worstRatio = 0;
        for (int i = 0; i < ours.Length; i++)
        {
            double diff = Math.Abs((double)ours[i] - reference[i]);
            double allowed = atol + rtol * Math.Abs(reference[i]);
            bool ok = diff <= allowed;
            double ratio = allowed > 0 && !double.IsNaN(diff) ? diff / allowed : ok ? 0 : double.PositiveInfinity;
            if (ratio > worstRatio) (worstRatio, worst) = (ratio, i);
            if (!ok) bad++;
        }
        if (bad > 0)
            throw new InvalidOperationException(
                $"{Name}: {what} disagrees with the reference at {bad} of {ours.Length} values (atol {atol:G3}, " +
                $"rtol {rtol:G3}); worst at [{worst}]: ours {ours[worst]:G8}, reference {reference[worst]:G8}.");
    }

    protected static string GBps(double bytes, double seconds) => $"{bytes / seconds / 1e9:F2} GB/s";

    protected static string GFlops(double flops, double seconds) => $"{flops / seconds / 1e9:F1} GFLOP/s";
}
