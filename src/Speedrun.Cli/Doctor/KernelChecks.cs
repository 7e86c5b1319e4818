using ILGPU;
using ILGPU.Runtime;
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
    }

    public static void Run(Device cuda, Device cpu, DoctorReport report, TextWriter log)
    {
        foreach (var op in Cases())
        {
            try
            {
                var rng = new Random(op.Name.Length * 7919 + op.Output);
                var inputs = op.Inputs.Select(len => Enumerable.Range(0, len).Select(_ => (float)NextGaussian(rng)).ToArray()).ToArray();
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

    internal static double NextGaussian(Random rng)
    {
        double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
