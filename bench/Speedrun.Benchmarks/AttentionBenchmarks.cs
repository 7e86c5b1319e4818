using BenchmarkDotNet.Attributes;
using Speedrun.Benchmark.OpSpecs;
using Speedrun.Core.Autograd;
using Speedrun.Tests.Torch;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = Speedrun.Core.Autograd.Tensor;
using DeviceKind = Speedrun.Kernels.Runtime.DeviceKind;
using TTensor = TorchSharp.torch.Tensor;

namespace Speedrun.Benchmarks;

/// <summary>
/// Attention forward + backward on the CPU: our flash attention (F.scaled_dot_product_attention, and
/// F.flex_attention under a causal ∧ sliding-window block mask) against TorchSharp's
/// scaled_dot_product_attention(is_causal) (the baseline), both on every core, fp32, in one run. Cases: the
/// records' dense T = 1024 with both head layouts (12 × 64 for records 1–4, 6 × 128 from record 5), and one
/// 16K-token stream (records 12+ train on 64K streams) where the window of 1,024 tokens makes most blocks empty.
/// Each case is checked once in [GlobalSetup]: our dense output and gradients against torch's.
/// Run: dotnet run -c Release --project bench/Speedrun.Benchmarks -- --filter '*AttentionBenchmarks*'
/// (DenseAttentionBenchmarks: T = 1024; StreamAttentionBenchmarks: the 16K stream).
/// </summary>
public abstract class AttentionBenchmarks
{
    public abstract AttentionShape Case { get; set; }

    Device? _device;
    Tensor? _q, _k, _v, _dy;
    BlockMask<SpecMask>? _window;
    TTensor? _tq, _tk, _tv, _tdy;

    [GlobalSetup]
    public void Setup()
    {
        torch.set_num_threads(Environment.ProcessorCount);
        _device = Device.Create(DeviceKind.Cpu);
        var (b, h, t, d) = (Case.B, Case.H, Case.T, Case.D);
        var random = new Random(1234);
        float[] Draw() => Enumerable.Range(0, b * h * t * d).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        float[] q = Draw(), k = Draw(), v = Draw(), dy = Draw();
        Tensor Ours(float[] x, bool grad)
        {
            var tensor = Tensor.FromArray(_device, x, b, h, t, d);
            tensor.RequiresGrad = grad;
            return tensor;
        }
        (_q, _k, _v, _dy) = (Ours(q, true), Ours(k, true), Ours(v, true), Ours(dy, false));
        TTensor Torch(float[] x, bool grad) => torch.tensor(x, [b, h, t, d]).requires_grad_(grad);
        (_tq, _tk, _tv, _tdy) = (Torch(q, true), Torch(k, true), Torch(v, true), Torch(dy, false));
        if (Case.Window > 0)
            _window = BlockMask.Create(_device, new SpecMask(causal: true, default, Case.Window, 0), t);
        Validate();
    }

    void Validate()
    {
        using (new TensorScope())
        {
            foreach (var x in new[] { _q!, _k!, _v! }) x.ZeroGrad();
            var y = F.ScaledDotProductAttention(_q!, _k!, _v!, isCausal: true);
            Backprop.Backward([y], [_dy!]);
            using var scope = torch.NewDisposeScope();
            foreach (var x in new[] { _tq!, _tk!, _tv! }) x.grad?.zero_();
            var ty = nn.functional.scaled_dot_product_attention(_tq!, _tk!, _tv!, is_casual: true);
            ty.backward([_tdy!]);
            Check("y", y.ToArray(), ty);
            Check("dq", _q!.Grad!.ToArray(), _tq!.grad!);
            Check("dk", _k!.Grad!.ToArray(), _tk!.grad!);
            Check("dv", _v!.Grad!.ToArray(), _tv!.grad!);
        }

        void Check(string what, float[] ours, TTensor reference)
        {
            var expected = TensorData.Read<float>(reference.detach());
            double scale = expected.Max(Math.Abs), worst = 0;
            for (int i = 0; i < ours.Length; i++) worst = Math.Max(worst, Math.Abs(ours[i] - expected[i]));
            if (worst > 1e-4 * scale + 1e-6)
                throw new InvalidOperationException($"{Case}: {what} differs from TorchSharp by {worst:G3} (max |torch| {scale:G3}).");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var t in new[] { _q, _k, _v, _dy }) t?.Dispose();
        _window?.Storage.Dispose();
        foreach (var t in new[] { _tq, _tk, _tv, _tdy }) t?.Dispose();
        _device?.Dispose();
        _device = null;
    }

    [Benchmark(Baseline = true, Description = "TorchSharp sdpa causal")]
    public void TorchCausal()
    {
        using var scope = torch.NewDisposeScope();
        var y = nn.functional.scaled_dot_product_attention(_tq!, _tk!, _tv!, is_casual: true);
        y.backward([_tdy!]);
    }

    [Benchmark(Description = "Speedrun sdpa causal")]
    public void OursCausal()
    {
        using var scope = new TensorScope();
        var y = F.ScaledDotProductAttention(_q!, _k!, _v!, isCausal: true);
        Backprop.Backward([y], [_dy!]);
        _device!.Synchronize();
    }

    protected void RunWindow()
    {
        using var scope = new TensorScope();
        var y = F.FlexAttention(_q!, _k!, _v!, _window!);
        Backprop.Backward([y], [_dy!]);
        _device!.Synchronize();
    }
}

/// <summary>The records' dense causal attention at T = 1024, both head layouts.</summary>
[Config(typeof(AttentionConfig))]
public class DenseAttentionBenchmarks : AttentionBenchmarks
{
    public static IEnumerable<AttentionShape> Shapes => [new(2, 12, 1024, 64, Window: 0), new(2, 6, 1024, 128, Window: 0)];

    [ParamsSource(nameof(Shapes))]
    public override AttentionShape Case { get; set; } = new(1, 1, 16, 16, 0);
}

/// <summary>One 16K-token stream: dense causal (both libraries) against our causal ∧ 1,024-token window.</summary>
[Config(typeof(AttentionConfig))]
public class StreamAttentionBenchmarks : AttentionBenchmarks
{
    public static IEnumerable<AttentionShape> Shapes => [new(1, 2, 16384, 128, Window: 1024)];

    [ParamsSource(nameof(Shapes))]
    public override AttentionShape Case { get; set; } = new(1, 1, 16, 16, 0);

    [Benchmark(Description = "Speedrun flex causal+window")]
    public void OursWindow() => RunWindow();
}

/// <summary>An attention case: batch, heads, sequence, head dim, and a sliding window (0: dense only).</summary>
public sealed record AttentionShape(int B, int H, int T, int D, int Window)
{
    /// <summary>Multiply-adds of causal attention forward + backward (2 products forward, 5 backward, half the
    /// T × T scores), for the throughput column.</summary>
    public double CausalFlops => 7.0 * 2 * B * H * (double)T * T / 2 * D;

    public override string ToString() =>
        $"B{B} H{H} T{T} D{D}" + (Window > 0 ? $" window {Window}" : "");
}

/// <summary>A short job: the 16K dense case takes seconds per call.</summary>
sealed class AttentionConfig() : InProcessConfig(
    "Dense-causal GFLOP/s",
    "GFLOP/s counting the multiply-adds of causal attention forward + backward (7 products of half the T x T " +
    "scores); the same count for every method, so its ratio is the time ratio (the window case does less work)",
    static (benchmarkCase, seconds) =>
        benchmarkCase.Parameters.Items.Select(p => p.Value).OfType<AttentionShape>().FirstOrDefault() is { } s
            ? $"{s.CausalFlops / seconds / 1e9:F1}" : "NA",
    warmups: 1, iterations: 5, parameterWidth: 40);
