using ILGPU;
using ILGPU.Runtime;
using Speedrun.Kernels.Blas;
using Speedrun.Kernels.Runtime;
using Speedrun.Kernels.Numerics;
using Speedrun.Kernels.Ops;

namespace Speedrun.Cli.Doctor;

/// <summary>GEMM TFLOP/s through our cuBLAS binding at 4096³ and at GPT-2 124M training shapes
/// (8192 tokens per micro-batch), timed with CUDA events on random data, median of 5 batches.</summary>
internal static class GemmThroughput
{
    static readonly (string Name, int M, int K, int N, int Batch)[] Shapes =
    [
        ("4096x4096x4096", 4096, 4096, 4096, 1),
        ("qkv 8192x768x2304", 8192, 768, 2304, 1),
        ("fc 8192x768x3072", 8192, 768, 3072, 1),
        ("proj 8192x3072x768", 8192, 3072, 768, 1),
        ("lm_head 8192x768x50304", 8192, 768, 50304, 1),
        ("attn scores 96x(1024x64x1024)", 1024, 64, 1024, 96),
    ];

    public static void Run(Device device, DoctorReport report, TextWriter log)
    {
        foreach (var (name, m, k, n, batch) in Shapes)
        {
            var g = batch == 1 ? Gemm.Dense(false, true, m, n, k) : Gemm.DenseBatched(false, true, m, n, k, batch);
            long la = (long)batch * m * k, lb = (long)batch * k * n, lc = (long)batch * m * n;
            foreach (var dtype in name.StartsWith("4096") ? new[] { "fp32", "bf16->fp32", "bf16" } : new[] { "bf16", "fp32" })
            {
                device.Accelerator.Bind();
                double ms = Time(device, g, dtype, la, lb, lc);
                double tflops = g.Flops / (ms / 1000) / 1e12;
                report.Gemms.Add(new GemmTiming(name, dtype, ms, tflops));
                log.WriteLine($"  gemm {name} {dtype}: {ms:F3} ms, {tflops:F1} TFLOP/s");
            }
        }
    }

    static double Time(Device device, Gemm g, string dtype, long la, long lb, long lc)
    {
        var ops = device.Elementwise();
        using var a32 = device.Pool.Rent<float>(la);
        using var b32 = device.Pool.Rent<float>(lb);
        FillRandom(device, a32.View, 1);
        FillRandom(device, b32.View, 2);
        Action run;
        var owned = new List<IDisposable>();
        if (dtype == "fp32")
        {
            var c = device.Pool.Rent<float>(lc); owned.Add(c);
            run = () => device.Blas.Gemm(g, a32.View, b32.View, c.View);
        }
        else
        {
            var a = device.Pool.Rent<BFloat16>(la); owned.Add(a);
            var b = device.Pool.Rent<BFloat16>(lb); owned.Add(b);
            ops.ToBFloat16(a32.View, a.View);
            ops.ToBFloat16(b32.View, b.View);
            if (dtype == "bf16")
            {
                var c = device.Pool.Rent<BFloat16>(lc); owned.Add(c);
                run = () => device.Blas.Gemm(g, a.View, b.View, c.View);
            }
            else
            {
                var c = device.Pool.Rent<float>(lc); owned.Add(c);
                run = () => device.Blas.Gemm(g, a.View, b.View, c.View);
            }
        }
        try
        {
            run(); run(); // warm-up: handle, heuristics, clocks
            using var timer = device.CreateTimer();
            int reps = g.Flops > 5e11 ? 5 : 20;
            var batches = new List<double>();
            for (int i = 0; i < 5; i++)
            {
                timer.Start();
                for (int r = 0; r < reps; r++) run();
                batches.Add(timer.StopMilliseconds() / reps);
            }
            batches.Sort();
            return batches[2];
        }
        finally
        {
            foreach (var o in owned) o.Dispose();
        }
    }

    /// <summary>Random data uploaded once per buffer (zeros would flatter the tensor cores).</summary>
    static void FillRandom(Device device, ArrayView<float> view, int seed)
    {
        var rng = new Random(seed);
        const int chunk = 1 << 22;
        var host = new float[Math.Min(chunk, view.Length)];
        for (long offset = 0; offset < view.Length; offset += chunk)
        {
            int len = (int)Math.Min(chunk, view.Length - offset);
            for (int i = 0; i < len; i++) host[i] = (float)(rng.NextDouble() * 2 - 1);
            view.SubView(offset, len).CopyFromCPU(host.AsSpan(0, len));
        }
    }
}
