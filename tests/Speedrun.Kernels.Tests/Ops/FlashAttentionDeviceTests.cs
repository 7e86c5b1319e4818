using Speedrun.Kernels.Ops;
using BFloat16 = Speedrun.Kernels.Numerics.BFloat16;

namespace Speedrun.Kernels.Tests.Ops;

/// <summary>Same document and causal: a query sees earlier keys of its own document (ids per position).</summary>
public readonly struct DocumentMask(ArrayView<int> ids) : IMaskMod
{
    readonly ArrayView<int> _ids = ids;

    /// <inheritdoc/>
    public bool Visible(int query, int key) => key <= query && _ids[query] == _ids[key];
}

/// <summary>Causal within a window: a query sees itself and the Window − 1 keys before it.</summary>
public readonly struct WindowMask(int window) : IMaskMod
{
    readonly int _window = window;

    /// <inheritdoc/>
    public bool Visible(int query, int key) => key <= query && query - key < _window;
}

/// <summary>Every query sees only its own key.</summary>
public readonly struct DiagonalMask : IMaskMod
{
    /// <inheritdoc/>
    public bool Visible(int query, int key) => key == query;
}

/// <summary>Causal, except that the queries before First and the query Hole see no key at all.</summary>
public readonly struct HoleMask(int first, int hole) : IMaskMod
{
    readonly int _first = first, _hole = hole;

    /// <inheritdoc/>
    public bool Visible(int query, int key) => key <= query && query >= _first && query != _hole;
}

/// <summary>
/// The ILGPU flash-attention kernels (both paths) against a float64 dense attention written here, on block masks
/// built from element masks: y, lse, dq, dk, dv. The fp32 path runs on the usual CPU device; the bf16 MMA path
/// needs CUDA's 32-lane warps, so it runs on a CPU device built with them, where the mma.sync instruction is
/// emulated lane by lane from its fragment layout (every other line of the kernels is what CUDA runs).
/// </summary>
public class FlashAttentionDeviceTests
{
    static readonly Lazy<Runtime.Device> Warp32 = new(Runtime.Device.CreateCpuWith32LaneWarps);

    public enum Mask { Causal, Full, Document, Window, Diagonal, Holes }

    /// <summary>The masks' element rules, for the reference.</summary>
    static Func<int, int, bool> Rule(Mask mask, int[] ids, int blockSize) => mask switch
    {
        Mask.Causal => (i, j) => j <= i,
        Mask.Full => (_, _) => true,
        Mask.Document => (i, j) => j <= i && ids[i] == ids[j],
        Mask.Window => (i, j) => j <= i && i - j < blockSize,
        Mask.Diagonal => (i, j) => i == j,
        Mask.Holes => (i, j) => j <= i && i >= HoleFirst && i != HoleRow,
        _ => throw new ArgumentOutOfRangeException(nameof(mask)),
    };

    // Queries 0..19 see nothing (with 16-row blocks: an empty query block and a partly empty one), and so does 40.
    const int HoleFirst = 20, HoleRow = 40;

    /// <summary>Document ids with boundaries inside blocks (at 10, 29, 45 and 100: inside blocks of 16, 32, 128).</summary>
    static int[] DocumentIds(int T) =>
        Enumerable.Range(0, T).Select(i => i < 10 ? 0 : i < 29 ? 1 : i < 45 ? 2 : i < 100 ? 3 : 4).ToArray();

    static float[] Normal(int seed, int n)
    {
        var random = new Random(seed);
        var x = new float[n];
        for (int i = 0; i < n; i++)
            x[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
        return x;
    }

    static float[] RoundBf16(float[] x) => x.Select(v => BFloat16.FromFloat(v).ToFloat()).ToArray();

    /// <summary>Dense float64 attention with the element mask: y, lse and the gradients for dy.</summary>
    static (double[] Y, double[] Lse, double[] Dq, double[] Dk, double[] Dv) Reference(float[] q, float[] k, float[] v,
        float[] dy, int heads, int T, int D, double scale, Func<int, int, bool> visible)
    {
        var y = new double[heads * T * D];
        var lse = new double[heads * T];
        var dq = new double[y.Length];
        var dk = new double[y.Length];
        var dv = new double[y.Length];
        var p = new double[T, T];
        for (int h = 0; h < heads; h++)
        {
            int o = h * T * D;
            double Dot(float[] a, int i, float[] b, int j)
            {
                double sum = 0;
                for (int d = 0; d < D; d++) sum += (double)a[o + i * D + d] * b[o + j * D + d];
                return sum;
            }
            for (int i = 0; i < T; i++)
            {
                double max = double.NegativeInfinity;
                for (int j = 0; j < T; j++)
                    if (visible(i, j)) max = Math.Max(max, scale * Dot(q, i, k, j));
                double sum = 0;
                for (int j = 0; j < T; j++)
                {
                    p[i, j] = visible(i, j) ? Math.Exp(scale * Dot(q, i, k, j) - max) : 0;
                    sum += p[i, j];
                }
                lse[h * T + i] = sum > 0 ? max + Math.Log(sum) : double.NegativeInfinity;
                for (int j = 0; j < T; j++)
                {
                    if (sum > 0) p[i, j] /= sum;
                    for (int d = 0; d < D; d++) y[o + i * D + d] += p[i, j] * v[o + j * D + d];
                }
            }
            for (int i = 0; i < T; i++)
            {
                double delta = 0;
                for (int d = 0; d < D; d++) delta += dy[o + i * D + d] * y[o + i * D + d];
                for (int j = 0; j < T; j++)
                {
                    if (p[i, j] == 0) continue;
                    double ds = p[i, j] * (Dot(dy, i, v, j) - delta);
                    for (int d = 0; d < D; d++)
                    {
                        dv[o + j * D + d] += p[i, j] * dy[o + i * D + d];
                        dq[o + i * D + d] += scale * ds * k[o + j * D + d];
                        dk[o + j * D + d] += scale * ds * q[o + i * D + d];
                    }
                }
            }
        }
        return (y, lse, dq, dk, dv);
    }

    sealed record Result(float[] Y, float[] Lse, float[] Dq, float[] Dk, float[] Dv);

    /// <summary>Runs forward and backward on <paramref name="device"/> with the given path; outputs start as NaN.</summary>
    static Result Run<TMask>(Runtime.Device device, FlashAttentionPath path, TMask mask, float[] q, float[] k, float[] v,
        float[] dy, int B, int H, int T, int D, int blockSize, float scale) where TMask : struct, IMaskMod
    {
        var acc = device.Accelerator;
        int n = BlockSparsity.BlocksFor(T, blockSize);
        using var storage = acc.Allocate1D<int>(BlockMaskKernels.StorageLength(n));
        var blocks = device.BlockMasks().FromElements(mask, T, blockSize, storage.View);
        using var dq_ = acc.Allocate1D(q);
        using var dk_ = acc.Allocate1D(k);
        using var dv_ = acc.Allocate1D(v);
        using var ddy = acc.Allocate1D(dy);
        using var y = Nan(acc, q.Length);
        using var lse = Nan(acc, B * H * T);
        using var gq = Nan(acc, q.Length);
        using var gk = Nan(acc, q.Length);
        using var gv = Nan(acc, q.Length);
        var kernels = new FlashAttentionDevice(device, path);
        Assert.Equal(path, kernels.Path);
        kernels.Forward(dq_.View, dk_.View, dv_.View, B, H, T, D, scale, blocks, mask, y.View, lse.View);
        kernels.Backward(ddy.View, dq_.View, dk_.View, dv_.View, y.View, lse.View, B, H, T, D, scale, blocks, mask,
            gq.View, gk.View, gv.View);
        device.Synchronize();
        return new Result(y.GetAsArray1D(), lse.GetAsArray1D(), gq.GetAsArray1D(), gk.GetAsArray1D(), gv.GetAsArray1D());
    }

    static MemoryBuffer1D<float, Stride1D.Dense> Nan(Accelerator acc, long n)
    {
        var b = acc.Allocate1D<float>(n);
        b.CopyFromCPU(Enumerable.Repeat(float.NaN, (int)n).ToArray());
        return b;
    }

    static Result RunMask(Runtime.Device device, FlashAttentionPath path, Mask mask, int[] ids, float[] q, float[] k,
        float[] v, float[] dy, int B, int H, int T, int D, int blockSize, float scale)
    {
        switch (mask)
        {
            case Mask.Causal: return Run(device, path, new CausalMask(), q, k, v, dy, B, H, T, D, blockSize, scale);
            case Mask.Full: return Run(device, path, new FullMask(), q, k, v, dy, B, H, T, D, blockSize, scale);
            case Mask.Window: return Run(device, path, new WindowMask(blockSize), q, k, v, dy, B, H, T, D, blockSize, scale);
            case Mask.Diagonal: return Run(device, path, new DiagonalMask(), q, k, v, dy, B, H, T, D, blockSize, scale);
            case Mask.Holes: return Run(device, path, new HoleMask(HoleFirst, HoleRow), q, k, v, dy, B, H, T, D, blockSize, scale);
            case Mask.Document:
                using (var idBuffer = device.Accelerator.Allocate1D(ids))
                    return Run(device, path, new DocumentMask(idBuffer.View), q, k, v, dy, B, H, T, D, blockSize, scale);
            default: throw new ArgumentOutOfRangeException(nameof(mask));
        }
    }

    /// <summary>max |actual − expected| ≤ tolerance · max |expected|, the maximum taken as at least 1 (the inputs'
    /// scale: a gradient that is exactly 0, as dq is when each query sees only itself, is held to tolerance · 1);
    /// −∞ must match exactly; NaN fails.</summary>
    static double CloseToMax(double[] expected, float[] actual, double tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double max = Math.Max(1, expected.Where(double.IsFinite).Select(Math.Abs).DefaultIfEmpty(0).Max());
        double worst = 0;
        int at = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            if (double.IsNegativeInfinity(expected[i]))
            {
                Assert.True(float.IsNegativeInfinity(actual[i]), $"{what}[{i}]: expected -inf (no visible key), got {actual[i]}");
                continue;
            }
            double diff = Math.Abs(actual[i] - expected[i]);
            if (double.IsNaN(diff) || diff > worst) { worst = double.IsNaN(diff) ? double.PositiveInfinity : diff; at = i; }
        }
        double relative = worst / max;
        Assert.True(relative <= tolerance,
            $"{what}: max |diff| {worst:G4} at [{at}] (expected {(at >= 0 ? expected[at] : 0):G8}, got {(at >= 0 ? actual[at] : 0):G8}) " +
            $"is {relative:G3} of max |expected| {max:G4}; allowed {tolerance:G3}");
        return relative;
    }

    static void CheckAll((double[] Y, double[] Lse, double[] Dq, double[] Dk, double[] Dv) expected, Result got,
        double tolerance, string label)
    {
        CloseToMax(expected.Y, got.Y, tolerance, $"{label} y");
        CloseToMax(expected.Lse, got.Lse, tolerance, $"{label} lse");
        CloseToMax(expected.Dq, got.Dq, tolerance, $"{label} dq");
        CloseToMax(expected.Dk, got.Dk, tolerance, $"{label} dk");
        CloseToMax(expected.Dv, got.Dv, tolerance, $"{label} dv");
    }

    /// <summary>Rows that see nothing: y = 0 and dq = 0 exactly; keys nobody sees: dk = dv = 0 exactly.</summary>
    static void CheckUnseenExactlyZero(Result got, Func<int, int, bool> visible, int heads, int T, int D)
    {
        for (int h = 0; h < heads; h++)
        for (int r = 0; r < T; r++)
        {
            bool rowSees = Enumerable.Range(0, T).Any(j => visible(r, j));
            bool keySeen = Enumerable.Range(0, T).Any(i => visible(i, r));
            for (int d = 0; d < D; d++)
            {
                int x = (h * T + r) * D + d;
                if (!rowSees) Assert.True(got.Y[x] == 0f && got.Dq[x] == 0f, $"row {r} sees nothing: y {got.Y[x]}, dq {got.Dq[x]}");
                if (!keySeen) Assert.True(got.Dk[x] == 0f && got.Dv[x] == 0f, $"key {r} is seen by none: dk {got.Dk[x]}, dv {got.Dv[x]}");
            }
        }
    }

    // fp32: the kernels sum in a different order than the float64 reference and e^x is KernelMath's (about an ulp);
    // 1e-5 of the largest magnitude leaves room over the few 1e-7 seen.
    [Theory]
    [InlineData(Mask.Causal, 2, 67, 64, 16)]
    [InlineData(Mask.Causal, 1, 37, 128, 32)]
    [InlineData(Mask.Full, 2, 37, 8, 16)]
    [InlineData(Mask.Full, 1, 67, 64, 32)]
    [InlineData(Mask.Document, 2, 67, 64, 16)]
    [InlineData(Mask.Document, 1, 67, 128, 32)]
    [InlineData(Mask.Window, 2, 67, 64, 16)]
    [InlineData(Mask.Window, 1, 67, 8, 32)]
    [InlineData(Mask.Diagonal, 2, 37, 64, 16)]
    [InlineData(Mask.Holes, 2, 67, 64, 16)]
    [InlineData(Mask.Holes, 1, 67, 128, 32)]
    [InlineData(Mask.Document, 1, 130, 64, 128)]
    public void Fp32PathMatchesFloat64Reference(Mask mask, int B, int T, int D, int blockSize)
    {
        const int H = 2;
        float scale = 1f / MathF.Sqrt(D);
        int n = B * H * T * D, seed = (int)mask * 100 + T + D;
        var (q, k, v, dy) = (Normal(seed, n), Normal(seed + 1, n), Normal(seed + 2, n), Normal(seed + 3, n));
        var ids = DocumentIds(T);
        var rule = Rule(mask, ids, blockSize);
        var got = RunMask(OpCheck.Cpu, FlashAttentionPath.Fp32, mask, ids, q, k, v, dy, B, H, T, D, blockSize, scale);
        CheckAll(Reference(q, k, v, dy, B * H, T, D, scale, rule), got, 1e-5, $"fp32 {mask}");
        CheckUnseenExactlyZero(got, rule, B * H, T, D);
    }

    // bf16 MMA: q, k, v, dy are rounded to bf16 as they are loaded, and so are p (for p·v and pᵀ·dy) and ds
    // (for ds·k and dsᵀ·q), with fp32 sums. Against the reference on the bf16-rounded inputs only p and ds
    // rounding remain (2^-9 relative each; up to 3e-3 of the largest magnitude seen): 1e-2. Against the exact
    // inputs the input rounding adds its share (up to 7e-3 seen): 2e-2. lse comes from fp32 sums of exact bf16
    // products, so on the rounded inputs it is held to the fp32 tolerance.
    [Theory]
    [InlineData(Mask.Causal, 1, 67, 64, 16)]
    [InlineData(Mask.Full, 1, 37, 8, 16)]
    [InlineData(Mask.Document, 1, 67, 64, 32)]
    [InlineData(Mask.Window, 1, 67, 64, 16)]
    [InlineData(Mask.Diagonal, 1, 37, 128, 32)]
    [InlineData(Mask.Holes, 1, 67, 64, 16)]
    [InlineData(Mask.Causal, 1, 37, 128, 32)]
    [InlineData(Mask.Document, 1, 130, 64, 128)]
    public void Bf16MmaPathMatchesFloat64Reference(Mask mask, int B, int T, int D, int blockSize)
    {
        const int H = 2;
        float scale = 1f / MathF.Sqrt(D);
        int n = B * H * T * D, seed = (int)mask * 100 + T + D + 7;
        var (q, k, v, dy) = (Normal(seed, n), Normal(seed + 1, n), Normal(seed + 2, n), Normal(seed + 3, n));
        var ids = DocumentIds(T);
        var rule = Rule(mask, ids, blockSize);
        var got = RunMask(Warp32.Value, FlashAttentionPath.Bf16Mma, mask, ids, q, k, v, dy, B, H, T, D, blockSize, scale);
        var rounded = Reference(RoundBf16(q), RoundBf16(k), RoundBf16(v), RoundBf16(dy), B * H, T, D, scale, rule);
        CheckAll(rounded, got, 1e-2, $"bf16 {mask} (bf16-rounded inputs)");
        CloseToMax(rounded.Lse, got.Lse, 1e-5, $"bf16 {mask} lse (bf16-rounded inputs)");
        CheckAll(Reference(q, k, v, dy, B * H, T, D, scale, rule), got, 2e-2, $"bf16 {mask} (exact inputs)");
        CheckUnseenExactlyZero(got, rule, B * H, T, D);
    }

    /// <summary>The dispatcher's forceKernels route reaches these kernels on the CPU accelerator, on the fp32 path.</summary>
    [Fact]
    public void DispatcherForcedToKernelsRunsTheFp32Path()
    {
        const int B = 1, H = 2, T = 37, D = 16, blockSize = 16;
        float scale = 0.25f;
        int n = B * H * T * D;
        var (q, k, v, dy) = (Normal(1, n), Normal(2, n), Normal(3, n), Normal(4, n));
        var device = OpCheck.Cpu;
        Assert.Equal(FlashAttentionPath.Fp32, new FlashAttentionDevice(device).Path);
        int blocks = BlockSparsity.BlocksFor(T, blockSize);
        using var storage = device.Accelerator.Allocate1D<int>(BlockMaskKernels.StorageLength(blocks));
        var mask = device.BlockMasks().FromElements(new CausalMask(), T, blockSize, storage.View);
        using var dq_ = OpCheck.Upload(q);
        using var dk_ = OpCheck.Upload(k);
        using var dv_ = OpCheck.Upload(v);
        using var ddy = OpCheck.Upload(dy);
        using var y = OpCheck.Poisoned(n);
        using var lse = OpCheck.Poisoned(B * H * T);
        using var gq = OpCheck.Poisoned(n);
        using var gk = OpCheck.Poisoned(n);
        using var gv = OpCheck.Poisoned(n);
        var ops = new FlashAttentionKernels(device, forceKernels: true);
        ops.Forward(dq_.View, dk_.View, dv_.View, B, H, T, D, scale, mask, new CausalMask(), y.View, lse.View);
        ops.Backward(ddy.View, dq_.View, dk_.View, dv_.View, y.View, lse.View, B, H, T, D, scale, mask, new CausalMask(),
            gq.View, gk.View, gv.View);
        var got = new Result(OpCheck.Download(y), OpCheck.Download(lse), OpCheck.Download(gq), OpCheck.Download(gk),
            OpCheck.Download(gv));
        CheckAll(Reference(q, k, v, dy, B * H, T, D, scale, (i, j) => j <= i), got, 1e-5, "dispatcher");
    }

    /// <summary>Compiled for CUDA, the MMA kernels carry the mma.sync instruction and reserve no shared memory.</summary>
    [Theory]
    [InlineData(nameof(FlashAttentionKernelMethods.ForwardMmaKernel))]
    [InlineData(nameof(FlashAttentionKernelMethods.KeyValueGradMmaKernel))]
    [InlineData(nameof(FlashAttentionKernelMethods.QueryGradMmaKernel))]
    public void MmaKernelsEmitTensorCoreInstructionsInPtx(string kernel)
    {
        var method = typeof(FlashAttentionKernelMethods).GetMethod(kernel,
            System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.NonPublic)!.MakeGenericMethod(typeof(CausalMask));
        var ptx = Speedrun.Tests.Shared.OfflinePtx.Compile(method);
        Assert.Contains("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32", ptx);
        // The emulation is still in the PTX, behind a constant predicate that ptxas folds; its scratch is dynamic
        // shared memory, which CUDA launches do not request, so no static shared memory may appear.
        Assert.DoesNotContain("__shared_alloca", ptx);
    }

    [Fact]
    public void Bf16MmaPathRefusesNarrowWarpsAndHeadDimensionsBeyond128()
    {
        Assert.Throws<ArgumentException>(() => new FlashAttentionDevice(OpCheck.Cpu, FlashAttentionPath.Bf16Mma));
        var kernels = new FlashAttentionDevice(OpCheck.Cpu, FlashAttentionPath.Fp32);
        using var storage = OpCheck.Cpu.Accelerator.Allocate1D<int>(BlockMaskKernels.StorageLength(1));
        var blocks = OpCheck.Cpu.BlockMasks().FromElements(new CausalMask(), 4, 16, storage.View);
        using var x = OpCheck.Poisoned(4 * 130);
        using var lse = OpCheck.Poisoned(4);
        var e = Assert.Throws<ArgumentException>(() =>
            kernels.Forward(x.View, x.View, x.View, 1, 1, 4, 130, 1f, blocks, new CausalMask(), x.View, lse.View));
        Assert.Contains("D=130", e.Message);
    }
}
