using ILGPU;
using ILGPU.Runtime;
using Speedrun.Core.Training.Modules;
using Speedrun.Kernels.Blas;
using Speedrun.Kernels.Device;
using Speedrun.Kernels.Numerics;
using Speedrun.Kernels.Ops;

namespace Speedrun.Cli.Doctor;

/// <summary>
/// Runs every op on CUDA and on the CPU accelerator with the same inputs and compares the outputs.
/// The CPU kernels are themselves checked against TorchSharp by the test suite, so agreement here
/// carries that check over to the GPU. Tolerances match the oracle tests' (atol + rtol·|cpu|).
/// </summary>
internal static class KernelChecks
{
    /// <summary>One op: input lengths, output length, and how to run it on a device.</summary>
    internal sealed record OpCase(string Name, int[] Inputs, int Output, double Atol, double Rtol,
        Action<Device, ArrayView<float>[], ArrayView<float>> Run);

    public static IEnumerable<OpCase> Cases()
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
        foreach (var op in ModelOps()) yield return op;
    }

    /// <summary>Every op family the models use, forward and backward. Tolerances are twice the oracle
    /// tests' (each device is within the oracle tolerance of the exact value, so they are within twice of
    /// each other); outputs of several tensors are concatenated into one.</summary>
    static IEnumerable<OpCase> ModelOps()
    {
        const int rows = 67, c = 768;
        yield return new("rms_norm forward (y, rstd)", [rows * c], rows * c + rows, 2e-6, 2e-6, (d, x, y) =>
            d.RmsNorm().Forward(x[0], rows, c, 1e-6f, y.SubView(0, rows * c), y.SubView(rows * c, rows)));
        yield return new("rms_norm backward", [rows * c, rows * c], rows * c, 2e-5, 2e-5, (d, x, y) =>
        {
            using var tmp = d.Pool.Rent<float>(rows * c);
            using var rstd = d.Pool.Rent<float>(rows);
            d.RmsNorm().Forward(x[0], rows, c, 1e-6f, tmp.View, rstd.View);
            d.RmsNorm().Backward(x[1], x[0], rstd.View, rows, c, y);
        });
        yield return new("layer_norm forward (y, mean, rstd)", [rows * c, c, c], rows * c + 2 * rows, 4e-6, 4e-6, (d, x, y) =>
            d.LayerNorm().Forward(x[0], x[1], x[2], rows, c, 1e-5f, y.SubView(0, rows * c), y.SubView(rows * c, rows),
                y.SubView(rows * c + rows, rows)));
        yield return new("layer_norm backward (dx, dw, db)", [rows * c, c, c, rows * c], rows * c + 2 * c, 2e-5, 2e-5, (d, x, y) =>
        {
            using var tmp = d.Pool.Rent<float>(rows * c);
            using var mean = d.Pool.Rent<float>(rows);
            using var rstd = d.Pool.Rent<float>(rows);
            d.LayerNorm().Forward(x[0], x[1], x[2], rows, c, 1e-5f, tmp.View, mean.View, rstd.View);
            d.Elementwise().Fill(y.SubView(rows * c, 2 * c), 0f);
            d.LayerNorm().Backward(x[3], x[0], x[1], mean.View, rstd.View, rows, c, y.SubView(0, rows * c),
                y.SubView(rows * c, c), y.SubView(rows * c + c, c));
        });
        const int n = 100_003;
        foreach (var form in new[] { GeluForm.Erf, GeluForm.Tanh })
        {
            yield return new($"gelu {form} forward", [n], n, 2e-9, 2e-6, (d, x, y) => d.Activations().Gelu(x[0], y, form));
            yield return new($"gelu {form} backward", [n, n], n, 8e-7, 2e-6, (d, x, y) => d.Activations().GeluBackward(x[0], x[1], y, form));
        }
        yield return new("softmax forward", [rows * 1000], rows * 1000, 2e-9, 4e-6, (d, x, y) => d.Softmax().Forward(x[0], rows, 1000, y));
        yield return new("softmax backward", [rows * 1000, rows * 1000], rows * 1000, 2e-6, 2e-5, (d, x, y) =>
        {
            using var p = d.Pool.Rent<float>(rows * 1000);
            d.Softmax().Forward(x[0], rows, 1000, p.View);
            d.Softmax().Backward(p.View, x[1], rows, 1000, y);
        });

        const int eb = 2, et = 65, ec = 96, ev = 1000;
        var tokens = Enumerable.Range(0, eb * et).Select(i => (i * 7919 + 13) % 97 * 10 % ev).ToArray(); // repeats on purpose
        yield return new("embedding forward", [ev * ec, et * ec], eb * et * ec, 0, 1.2e-7, (d, x, y) =>
        {
            using var t = d.Pool.Rent<int>(tokens.Length);
            t.View.CopyFromCPU(d.Stream, tokens);
            d.Embedding().Forward(t.View, x[0], x[1], eb, et, ec, y);
        });
        yield return new("embedding backward (dwte, dwpe)", [eb * et * ec], ev * ec + et * ec, 2e-5, 2e-6, (d, x, y) =>
        {
            d.Elementwise().Fill(y, 0f);
            using var plan = d.Embedding().PlanTokenBackward(tokens, ev);
            d.Embedding().TokenBackward(plan, x[0], ec, y.SubView(0, ev * ec));
            d.Embedding().PositionBackward(x[0], eb, et, ec, y.SubView(ev * ec, et * ec));
        });

        const int cn = 33, cv = 50257, cvp = 50304;
        var targets = Enumerable.Range(0, cn).Select(i => i == 5 ? -1 : (i * 104729) % cv).ToArray();
        yield return new("cross-entropy fused (losses, dlogits)", [cn * cvp], cn + cn * cvp, 4e-5, 2e-5, (d, x, y) =>
        {
            using var t = d.Pool.Rent<int>(cn);
            t.View.CopyFromCPU(d.Stream, targets);
            d.CrossEntropy().ForwardBackward(x[0], t.View, cn, cv, cvp, 1f / cn, y.SubView(0, cn), y.SubView(cn, cn * cvp));
        });

        yield return new("sum and sum of squares", [n], 2, 1e-6 * n, 1e-6, (d, x, y) =>
        {
            d.Reduction().Sum(x[0], y.SubView(0, 1));
            d.Reduction().SumOfSquares(x[0], y.SubView(1, 1));
        });
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

    public static void Run(Device cuda, Device cpu, DoctorReport report, TextWriter log)
    {
        foreach (var op in Cases())
        {
            try
            {
                var rng = new Random(op.Name.Length * 7919 + op.Output);
                var inputs = op.Inputs.Select(len => Init.Normal(rng, len, 1.0)).ToArray();
                var fromCpu = Execute(cpu, op, inputs);
                cuda.Accelerator.Bind();
                var fromCuda = Execute(cuda, op, inputs);
                double maxAbs = 0, maxRel = 0;
                bool pass = true;
                for (int i = 0; i < fromCpu.Length; i++)
                {
                    double diff = Math.Abs((double)fromCuda[i] - fromCpu[i]);
                    if (double.IsNaN(diff)) diff = double.PositiveInfinity;
                    maxAbs = Math.Max(maxAbs, diff);
                    if (fromCpu[i] != 0) maxRel = Math.Max(maxRel, diff / Math.Abs(fromCpu[i]));
                    if (!(diff <= op.Atol + op.Rtol * Math.Abs(fromCpu[i]))) pass = false;
                }
                var result = new KernelAgreement(op.Name, fromCpu.Length, maxAbs, maxRel, op.Atol, op.Rtol, pass);
                report.Kernels.Add(result);
                log.WriteLine($"  {(pass ? "ok  " : "FAIL")} {op.Name}: max abs {maxAbs:G3}, max rel {maxRel:G3}");
            }
            catch (Exception e)
            {
                report.Errors.Add($"kernel {op.Name}: {e.GetType().Name}: {e.Message}");
                log.WriteLine($"  FAIL {op.Name}: {e}");
            }
        }
    }

    static float[] Execute(Device device, OpCase op, float[][] inputs)
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
