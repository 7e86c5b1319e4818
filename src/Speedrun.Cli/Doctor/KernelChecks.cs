using ILGPU;
using ILGPU.Runtime;
using Speedrun.Benchmark.OpSpecs;
using Speedrun.Core.Training.Modules;
using Speedrun.Kernels.Blas;
using Speedrun.Kernels.Numerics;
using Speedrun.Kernels.Ops;

namespace Speedrun.Cli.Doctor;

/// <summary>
/// The device-level checks that are not engine ops, on CUDA and on the CPU accelerator with the same inputs:
/// element-wise kernels, the bf16 and fp8 round trips, a warp-shuffle probe, the BLAS GEMMs (fp32, bf16, batched, fp8
/// scaled_mm) and the optimizer kernels (global gradient norm, AdamW). The engine's ops are checked from their specs by
/// <see cref="OpSpecChecks"/>. The CPU kernels are themselves checked against TorchSharp by the test suite, so
/// agreement here carries that check over to the GPU (atol + rtol·|cpu|).
/// </summary>
internal static class KernelChecks
{
    /// <summary>One check: input lengths, output length, tolerance, and how to run it on a device.</summary>
    internal sealed record DeviceCase(string Name, int[] Inputs, int Output, double Atol, double Rtol,
        Action<Device, ArrayView<float>[], ArrayView<float>> Run);

    public static IEnumerable<DeviceCase> Cases()
    {
        const int n = 100_003; // not a multiple of any block size
        yield return new("scale", [n], n, 1e-6, 1e-6, (d, x, y) => d.Elementwise().Scale(x[0], 0.37f, y));
        yield return new("add", [n, n], n, 1e-6, 1e-6, (d, x, y) => d.Elementwise().Add(x[0], x[1], y));
        yield return new("accumulate", [n, n], n, 1e-6, 1e-6, (d, x, y) =>
        {
            d.Elementwise().Copy(x[1], y);
            d.Elementwise().Accumulate(x[0], -2f, y);
        });
        yield return new("bf16 round trip", [n], n, 0, 0, (d, x, y) =>
        {
            using var bf = d.Pool.Rent<BFloat16>(n);
            d.Elementwise().ToBFloat16(x[0], bf.View);
            d.Elementwise().ToFloat32(bf.View, y);
        });
        const int rows = 1000, cols = 777;
        yield return new("warp-shuffle row sum (probe)", [rows * cols], rows, 1e-4, 1e-5, (d, x, y) =>
        {
            var k = d.Accelerator.LoadStreamKernel<ArrayView<float>, int, int, int, ArrayView<float>>(ProbeKernels.RowSumKernel);
            k(d.Launch.ForRows(rows), x[0], rows, cols, d.Launch.RowLanes, y);
        });
        foreach (var (ta, tb) in new[] { (false, false), (false, true), (true, false), (true, true) })
        {
            const int m = 129, kk = 257, nn = 65;
            var g = Gemm.Dense(ta, tb, m, nn, kk, alpha: 0.5f);
            yield return new($"gemm fp32 {(ta ? "T" : "N")}{(tb ? "T" : "N")} {m}x{kk}x{nn}", [m * kk, kk * nn], m * nn,
                1e-4, 1e-4, (d, x, y) => d.Blas.Gemm(g, x[0], x[1], y));
            yield return new($"gemm bf16->fp32 {(ta ? "T" : "N")}{(tb ? "T" : "N")} {m}x{kk}x{nn}", [m * kk, kk * nn], m * nn,
                1e-3, 1e-3, (d, x, y) =>
                {
                    using var a = d.Pool.Rent<BFloat16>(m * kk);
                    using var b = d.Pool.Rent<BFloat16>(kk * nn);
                    d.Elementwise().ToBFloat16(x[0], a.View);
                    d.Elementwise().ToBFloat16(x[1], b.View);
                    d.Blas.Gemm(g, a.View, b.View, y);
                });
        }
        {
            const int batch = 12, m = 65, kk = 64, nn = 33;
            var g = Gemm.DenseBatched(false, true, m, nn, kk, batch, alpha: 0.125f);
            yield return new($"batched gemm fp32 NT {batch}x({m}x{kk}x{nn})", [batch * m * kk, batch * kk * nn],
                batch * m * nn, 1e-4, 1e-4, (d, x, y) => d.Blas.Gemm(g, x[0], x[1], y));
        }
        yield return new("fp8 e4m3/e5m2 cast round trip", [n], 2 * n, 0, 0, (d, x, y) =>
        {
            using var q = d.Pool.Rent<byte>(n);
            d.Float8Casts().Quantize(x[0], 64f, q.View, Float8Format.E4M3);
            d.Float8Casts().Dequantize(q.View, Float8Format.E4M3, 1f / 64, y.SubView(0, n));
            d.Float8Casts().Quantize(x[0], 1024f, q.View, Float8Format.E5M2);
            d.Float8Casts().Dequantize(q.View, Float8Format.E5M2, 1f / 1024, y.SubView(n, n));
        });
        foreach (bool fast in new[] { false, true })
        {
            // torch._scaled_mm: cuBLASLt's fp8 GEMM on CUDA (sm_89+) against the CPU's exact emulation; fast
            // accumulation (record 19's forward) keeps fewer bits inside the tensor cores, hence the looser tolerance.
            const int m = 64, kk = 256, nn = 128;
            yield return new($"scaled_mm fp8 e4m3 x e5m2 -> fp32{(fast ? " fast accum" : "")} {m}x{kk}x{nn}", [m * kk, nn * kk], m * nn,
                fast ? 5e-2 : 1e-3, fast ? 1e-2 : 1e-4, (d, x, y) =>
                {
                    using var a8 = d.Pool.Rent<byte>(m * kk);
                    using var bT8 = d.Pool.Rent<byte>(nn * kk);
                    using var scales = d.Pool.Rent<float>(2);
                    d.Float8Casts().Quantize(x[0], 8f, a8.View, Float8Format.E4M3);
                    d.Float8Casts().Quantize(x[1], 4096f, bT8.View, Float8Format.E5M2);
                    d.Elementwise().Fill(scales.View.SubView(0, 1), 1f / 8);
                    d.Elementwise().Fill(scales.View.SubView(1, 1), 1f / 4096);
                    ScaledMm.Run(d, a8.View, Float8Format.E4M3, bT8.View, Float8Format.E5M2, m, nn, kk,
                        scales.View.SubView(0, 1), scales.View.SubView(1, 1), y, fast);
                });
        }
        yield return new("grad norm and clip scale", [n, 333, 70_001], 2, 0, 4e-6, (d, x, y) =>
        {
            d.GradNorm().GlobalNorm([x[0], x[1], x[2]], y.SubView(0, 1));
            d.GradNorm().ClipScale(y.SubView(0, 1), 1f, y.SubView(1, 1));
        });
        yield return new("adamw step (param, m, v) x3", [n, n], 3 * n, 2e-7, 2e-6, (d, x, y) =>
        {
            var p = y.SubView(0, n);
            var m = y.SubView(n, n);
            var v = y.SubView(2 * n, n);
            d.Elementwise().Copy(x[0], p);
            d.Elementwise().Fill(m, 0f);
            d.Elementwise().Fill(v, 0f);
            using var scale = d.Pool.Rent<float>(1);
            d.Elementwise().Fill(scale.View, 0.37f);
            for (int step = 1; step <= 3; step++)
                d.AdamW().Step(p, x[1], m, v, new AdamWStep(1e-3, 0.9, 0.95, 1e-8, 0.1, step), scale.View);
        });
    }

    /// <summary>Runs every case on <paramref name="device"/> and on <paramref name="reference"/> (the CPU) and adds
    /// one agreement line per case to the report.</summary>
    public static void Run(Device device, Device reference, DoctorReport report, TextWriter log)
    {
        foreach (var op in Cases())
        {
            try
            {
                var rng = new Random(op.Name.Length * 7919 + op.Output);
                var inputs = op.Inputs.Select(len => Init.Normal(rng, len, 1.0)).ToArray();
                var expected = Execute(reference, op, inputs);
                var actual = Execute(device, op, inputs);
                var (maxAbs, maxRel) = OpExecution.Distance(expected, actual);
                var tolerance = new Tolerance(op.Atol, op.Rtol);
                var failure = OpExecution.Compare(op.Name, expected.Select(v => (double)v).ToArray(), actual, tolerance);
                var agreement = new KernelAgreement(op.Name, expected.Length, maxAbs, maxRel, tolerance, null, failure is null, failure);
                report.Kernels.Add(agreement);
                log.WriteLine(agreement.Describe());
            }
            catch (Exception e)
            {
                report.Errors.Add($"kernel {op.Name}: {e.GetType().Name}: {e.Message}");
                log.WriteLine($"  FAIL {op.Name}: {e}");
            }
        }
    }

    static float[] Execute(Device device, DeviceCase op, float[][] inputs)
    {
        device.Accelerator.Bind();
        var buffers = inputs.Select(device.Accelerator.Allocate1D).ToArray();
        using var output = device.Accelerator.Allocate1D<float>(op.Output);
        output.MemSetToZero();
        try
        {
            op.Run(device, buffers.Select(b => (ArrayView<float>)b.View).ToArray(), output.View);
            device.Synchronize();
            return output.GetAsArray1D();
        }
        finally
        {
            foreach (var b in buffers) b.Dispose();
        }
    }
}
