using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;
using Speedrun.Kernels.Numerics;

namespace Speedrun.Kernels.Ops;

// The CPU device's fast path for simple element-wise ops. ILGPU's CPU accelerator simulates every thread and
// indexes views through several calls per element: a pass over 6.8M floats took ~18 ms there against ~1.3 ms
// for a SIMD loop on the same memory (measured 2026-11-30). Its buffers are host memory and its launches
// return only when the kernel is done, so a family may run the same maths here instead, in stream order.
// Every function computes what its kernel computes, operation for operation (IEEE single ops, no fused
// multiply-add), so results are the same bits on either path; the warp-row test device
// (Device.CreateCpuWithWarpRows) keeps to the kernels, so the tests cover both.

internal static unsafe class HostSimd
{
    /// <summary>The elements of a CPU-device view as a span.</summary>
    public static Span<float> Span(ArrayView<float> v) =>
        v.Length == 0 ? default : new Span<float>((void*)v.LoadEffectiveAddressAsPtr<float>(), v.IntLength);

    /// <summary>y = op(a, b) with b broadcast when shorter (its length divides a's) or a broadcast likewise.</summary>
    public static void Binary<TOp>(ArrayView<float> a, ArrayView<float> b, ArrayView<float> z) where TOp : struct, IBinaryOp
    {
        Span<float> sa = Span(a), sb = Span(b), sz = Span(z);
        if (typeof(TOp) == typeof(AddOp)) Apply(sa, sb, sz, static (x, y, d) => TensorPrimitives.Add(x, y, d), static (x, y, d) => TensorPrimitives.Add(x, y, d), static (x, y, d) => TensorPrimitives.Add(y, x, d));
        else if (typeof(TOp) == typeof(SubOp)) Apply(sa, sb, sz, static (x, y, d) => TensorPrimitives.Subtract(x, y, d), static (x, y, d) => TensorPrimitives.Subtract(x, y, d), static (x, y, d) => TensorPrimitives.Subtract(x, y, d));
        else if (typeof(TOp) == typeof(MulOp)) Apply(sa, sb, sz, static (x, y, d) => TensorPrimitives.Multiply(x, y, d), static (x, y, d) => TensorPrimitives.Multiply(x, y, d), static (x, y, d) => TensorPrimitives.Multiply(y, x, d));
        else if (typeof(TOp) == typeof(DivOp)) Apply(sa, sb, sz, static (x, y, d) => TensorPrimitives.Divide(x, y, d), static (x, y, d) => TensorPrimitives.Divide(x, y, d), static (x, y, d) => TensorPrimitives.Divide(x, y, d));
        else throw new NotSupportedException(typeof(TOp).Name);
    }

    delegate void SpanOp(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> d);
    delegate void ScalarRight(ReadOnlySpan<float> x, float y, Span<float> d);
    delegate void ScalarLeft(float x, ReadOnlySpan<float> y, Span<float> d);

    static void Apply(Span<float> a, Span<float> b, Span<float> z, SpanOp same, ScalarRight right, ScalarLeft left)
    {
        int n = z.Length;
        if (a.Length == n && b.Length == n) { same(a, b, z); return; }
        bool bSmall = a.Length == n;
        var small = bSmall ? b : a;
        if (small.Length == 1)
        {
            if (bSmall) right(a, small[0], z);
            else left(small[0], b, z);
            return;
        }
        // Repeats of the short operand, one row at a time.
        int m = small.Length;
        for (int r = 0; r < n; r += m)
        {
            if (bSmall) same(a.Slice(r, m), small, z.Slice(r, m));
            else same(small, b.Slice(r, m), z.Slice(r, m));
        }
    }

    /// <summary>The AdamW kernel's update, element for element (see AdamW.cs).</summary>
    public static void AdamW(ArrayView<float> param, ArrayView<float> grad, ArrayView<float> m, ArrayView<float> v,
        float gradScale, AdamWKernelMethods.AdamWCoefficients k)
    {
        Span<float> p = Span(param), g = Span(grad), ms = Span(m), vs = Span(v);
        int n = p.Length, i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            int w = Vector<float>.Count;
            var scale = new Vector<float>(gradScale);
            var decay = new Vector<float>(k.Decay);
            var b1 = new Vector<float>(k.Beta1);
            var c1 = new Vector<float>(k.OneMinusBeta1);
            var b2 = new Vector<float>(k.Beta2);
            var c2 = new Vector<float>(k.OneMinusBeta2);
            var root = new Vector<float>(k.RootCorrection2);
            var eps = new Vector<float>(k.Eps);
            var step = new Vector<float>(k.StepSize);
            for (; i <= n - w; i += w)
            {
                var gi = new Vector<float>(g.Slice(i, w)) * scale;
                var pi = new Vector<float>(p.Slice(i, w)) * decay;
                var mi = b1 * new Vector<float>(ms.Slice(i, w)) + c1 * gi;
                var vi = b2 * new Vector<float>(vs.Slice(i, w)) + c2 * (gi * gi);
                var denominator = Vector.SquareRoot(vi) / root + eps;
                (pi - step * (mi / denominator)).CopyTo(p.Slice(i, w));
                mi.CopyTo(ms.Slice(i, w));
                vi.CopyTo(vs.Slice(i, w));
            }
        }
        for (; i < n; i++)
        {
            float gi = g[i] * gradScale;
            float pi = p[i] * k.Decay;
            float mi = k.Beta1 * ms[i] + k.OneMinusBeta1 * gi;
            float vi = k.Beta2 * vs[i] + k.OneMinusBeta2 * (gi * gi);
            float denominator = MathF.Sqrt(vi) / k.RootCorrection2 + k.Eps;
            p[i] = pi - k.StepSize * (mi / denominator);
            ms[i] = mi;
            vs[i] = vi;
        }
    }

    /// <summary>y = alpha·x + beta (y may be x).</summary>
    public static void Affine(ArrayView<float> x, float alpha, float beta, ArrayView<float> y)
    {
        Span<float> sx = Span(x), sy = Span(y);
        int n = sy.Length, i = 0;
        var va = new Vector<float>(alpha);
        var vb = new Vector<float>(beta);
        for (int w = Vector<float>.Count; i <= n - w; i += w) (va * new Vector<float>(sx.Slice(i, w)) + vb).CopyTo(sy.Slice(i, w));
        for (; i < n; i++) sy[i] = alpha * sx[i] + beta;
    }

    /// <summary>y = alpha·x (y may be x).</summary>
    public static void Scale(ArrayView<float> x, float alpha, ArrayView<float> y) => TensorPrimitives.Multiply(Span(x), alpha, Span(y));

    /// <summary>y += alpha·x.</summary>
    public static void Accumulate(ArrayView<float> x, float alpha, ArrayView<float> y)
    {
        Span<float> sx = Span(x), sy = Span(y);
        int n = sy.Length, i = 0;
        var va = new Vector<float>(alpha);
        for (int w = Vector<float>.Count; i <= n - w; i += w) (new Vector<float>(sy.Slice(i, w)) + va * new Vector<float>(sx.Slice(i, w))).CopyTo(sy.Slice(i, w));
        for (; i < n; i++) sy[i] += alpha * sx[i];
    }

    /// <summary>a = lerp(a, b, w), in the two forms of the kernel (see Arithmetic.cs).</summary>
    public static void Lerp(ArrayView<float> a, ArrayView<float> b, float weight)
    {
        Span<float> sa = Span(a), sb = Span(b);
        int n = sa.Length, i = 0;
        float rest = 1f - weight;
        bool fromEnd = weight >= 0.5f;
        var vw = new Vector<float>(fromEnd ? rest : weight);
        for (int w = Vector<float>.Count; i <= n - w; i += w)
        {
            var x = new Vector<float>(sa.Slice(i, w));
            var y = new Vector<float>(sb.Slice(i, w));
            (fromEnd ? y - vw * (y - x) : x + vw * (y - x)).CopyTo(sa.Slice(i, w));
        }
        for (; i < n; i++)
        {
            float x = sa[i], y = sb[i], d = y - x;
            sa[i] = fromEnd ? y - rest * d : x + weight * d;
        }
    }

    /// <summary>
    /// Cross-entropy rows on the host, SIMD within a row and rows split over the cores: per row max, e = exp(z −
    /// max), sum, loss = log(sum) + max − z[target]; with <paramref name="dLogits"/> non-empty also
    /// dz = e·(scale/sum) − scale·[j = target] and zeros in the padding columns. Not the kernel's bits (a
    /// vectorised exp, another summation order), within its tolerances; the loss is the same with or without
    /// the gradient, and every row is summed in the same order on every run.
    /// </summary>
    public static void CrossEntropy(ArrayView<float> logits, ArrayView<int> targets, int n, int v, int vp,
        float dLossScale, ArrayView<float> losses, ArrayView<float> dLogits)
    {
        nint z = (nint)logits.LoadEffectiveAddressAsPtr<float>();
        nint t = (nint)targets.LoadEffectiveAddressAsPtr<int>();
        nint loss = (nint)losses.LoadEffectiveAddressAsPtr<float>();
        nint dz = dLogits.Length == 0 ? 0 : (nint)dLogits.LoadEffectiveAddressAsPtr<float>();
        int workers = Math.Max(1, Math.Min(Environment.ProcessorCount, n));
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, worker =>
        {
            int first = (int)((long)n * worker / workers), end = (int)((long)n * (worker + 1) / workers);
            float[]? scratch = dz == 0 ? System.Buffers.ArrayPool<float>.Shared.Rent(v) : null;
            try
            {
                for (int row = first; row < end; row++)
                {
                    var zr = new ReadOnlySpan<float>((float*)z + (long)row * vp, v);
                    var grad = dz == 0 ? default : new Span<float>((float*)dz + (long)row * vp, vp);
                    int target = ((int*)t)[row];
                    if (target < 0 || target >= v)
                    {
                        ((float*)loss)[row] = 0f;
                        grad.Clear();
                        continue;
                    }
                    float max = TensorPrimitives.Max(zr);
                    float atTarget = zr[target]; // read before the gradient may overwrite the logits
                    var e = dz == 0 ? scratch.AsSpan(0, v) : grad[..v];
                    TensorPrimitives.Subtract(zr, max, e);
                    TensorPrimitives.Exp(e, e);
                    float sum = TensorPrimitives.Sum(e);
                    ((float*)loss)[row] = MathF.Log(sum) + max - atTarget;
                    if (dz == 0) continue;
                    TensorPrimitives.Multiply(e, dLossScale / sum, e);
                    e[target] -= dLossScale;
                    grad[v..].Clear();
                }
            }
            finally
            {
                if (scratch is not null) System.Buffers.ArrayPool<float>.Shared.Return(scratch);
            }
        });
    }

    /// <summary>The reduction kernels' sum (x[i]² when <paramref name="square"/>) in their fixed order (Reduction.cs):
    /// strided partials of 65,536 and then 1,024 where the input is longer, then the 32-way tree as one lane
    /// replays it. Each partial adds its elements in increasing index, SIMD across partials, so the bits are the
    /// kernels'.</summary>
    public static float Reduce(ArrayView<float> x, bool square)
    {
        ReadOnlySpan<float> input = Span(x);
        float[]? stage1 = null, stage2 = null;
        try
        {
            if (input.Length > ReductionKernels.Stage1Partials)
            {
                stage1 = StridedPartials(input, ReductionKernels.Stage1Partials, square);
                input = stage1.AsSpan(0, ReductionKernels.Stage1Partials);
                square = false;
            }
            if (input.Length > ReductionKernels.Stage2Partials)
            {
                stage2 = StridedPartials(input, ReductionKernels.Stage2Partials, square);
                input = stage2.AsSpan(0, ReductionKernels.Stage2Partials);
                square = false;
            }
            const int width = ReductionKernelMethods.TreeWidth;
            Span<float> lanes = stackalloc float[width];
            for (int j = 0; j < width; j++)
            {
                float acc = 0f;
                for (int i = j; i < input.Length; i += width) acc += square ? input[i] * input[i] : input[i];
                lanes[j] = acc;
            }
            for (int offset = width / 2; offset > 0; offset >>= 1)
                for (int j = 0; j < offset; j++) lanes[j] = lanes[j] + lanes[j + offset];
            return lanes[0];
        }
        finally
        {
            if (stage1 is not null) System.Buffers.ArrayPool<float>.Shared.Return(stage1);
            if (stage2 is not null) System.Buffers.ArrayPool<float>.Shared.Return(stage2);
        }
    }

    /// <summary>partials[p] = 0 + x[p] + x[p + parts] + ... (squared when asked), one contiguous range of partials
    /// per core; a rented array of at least <paramref name="parts"/> floats.</summary>
    static float[] StridedPartials(ReadOnlySpan<float> x, int parts, bool square)
    {
        var partials = System.Buffers.ArrayPool<float>.Shared.Rent(parts);
        fixed (float* px = x)
        {
            nint source = (nint)px;
            int n = x.Length;
            Blocks(parts, (first, count) =>
            {
                var acc = partials.AsSpan(first, count);
                acc.Clear();
                for (long row = 0; row < n; row += parts)
                {
                    int length = (int)Math.Min(count, n - row - first);
                    if (length <= 0) break;
                    var xs = new ReadOnlySpan<float>((float*)source + row + first, length);
                    int i = 0;
                    for (int w = Vector<float>.Count; i <= length - w; i += w)
                    {
                        var v = new Vector<float>(xs.Slice(i, w));
                        (new Vector<float>(acc.Slice(i, w)) + (square ? v * v : v)).CopyTo(acc.Slice(i, w));
                    }
                    for (; i < length; i++) acc[i] += square ? xs[i] * xs[i] : xs[i];
                }
            }, itemSize: Math.Max(1, n / parts));
        }
        return partials;
    }

    /// <summary>RMSNorm's forward (RmsNorm.cs) as its one-lane kernel computes it: each row's x² summed left to
    /// right, r = 1/sqrt(sum/C + eps), y = x·r; rows split over the cores.</summary>
    public static void RmsNormForward(ArrayView<float> x, int rows, int cols, float eps, ArrayView<float> y, ArrayView<float> rstd)
    {
        nint px = (nint)x.LoadEffectiveAddressAsPtr<float>(), py = (nint)y.LoadEffectiveAddressAsPtr<float>(),
            pr = (nint)rstd.LoadEffectiveAddressAsPtr<float>();
        Blocks(rows, (first, count) =>
        {
            for (int row = first; row < first + count; row++)
            {
                var xr = new ReadOnlySpan<float>((float*)px + (long)row * cols, cols);
                float sumSquares = 0f;
                for (int c = 0; c < cols; c++) sumSquares += xr[c] * xr[c];
                float r = 1f / MathF.Sqrt(sumSquares / cols + eps);
                TensorPrimitives.Multiply(xr, r, new Span<float>((float*)py + (long)row * cols, cols));
                ((float*)pr)[row] = r;
            }
        }, itemSize: cols);
    }

    /// <summary>RMSNorm's backward as its one-lane kernel computes it: dot = Σ dy·x left to right, k = r²·dot/C,
    /// dx = r·(dy − x·k).</summary>
    public static void RmsNormBackward(ArrayView<float> dy, ArrayView<float> x, ArrayView<float> rstd, int rows, int cols, ArrayView<float> dx)
    {
        nint pdy = (nint)dy.LoadEffectiveAddressAsPtr<float>(), px = (nint)x.LoadEffectiveAddressAsPtr<float>(),
            pr = (nint)rstd.LoadEffectiveAddressAsPtr<float>(), pdx = (nint)dx.LoadEffectiveAddressAsPtr<float>();
        Blocks(rows, (first, count) =>
        {
            for (int row = first; row < first + count; row++)
            {
                var xr = new ReadOnlySpan<float>((float*)px + (long)row * cols, cols);
                var dyr = new ReadOnlySpan<float>((float*)pdy + (long)row * cols, cols);
                var dxr = new Span<float>((float*)pdx + (long)row * cols, cols);
                float dot = 0f;
                for (int c = 0; c < cols; c++) dot += dyr[c] * xr[c];
                float r = ((float*)pr)[row];
                float k = r * r * dot / cols;
                int i = 0;
                var vr = new Vector<float>(r);
                var vk = new Vector<float>(k);
                for (int w = Vector<float>.Count; i <= cols - w; i += w)
                    (vr * (new Vector<float>(dyr.Slice(i, w)) - new Vector<float>(xr.Slice(i, w)) * vk)).CopyTo(dxr.Slice(i, w));
                for (; i < cols; i++) dxr[i] = r * (dyr[i] - xr[i] * k);
            }
        }, itemSize: cols);
    }

    /// <summary>Runs body(start, count) over items [0, n) in one contiguous block per core (one block when the
    /// work, n·itemSize elements, is small).</summary>
    static void Blocks(int n, Action<int, int> body, long itemSize = 1)
    {
        long work = n * itemSize;
        int workers = work < 65536 ? 1 : (int)Math.Min(Math.Min(Environment.ProcessorCount, work / 32768), n);
        if (workers <= 1) { body(0, n); return; }
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, w =>
        {
            int first = (int)((long)n * w / workers), end = (int)((long)n * (w + 1) / workers);
            body(first, end - first);
        });
    }

    /// <summary>y = op(x) with the operator's own code (the same the kernel runs), one call per element; GELU (erf),
    /// RoundBf16 and every <see cref="IVectorUnaryOp"/> SIMD-wide with the same bits.</summary>
    public static void Unary<TOp>(ArrayView<float> x, ArrayView<float> y) where TOp : struct, IUnaryOp
    {
        nint px = (nint)x.LoadEffectiveAddressAsPtr<float>(), py = (nint)y.LoadEffectiveAddressAsPtr<float>();
        Blocks(y.IntLength, (first, count) =>
        {
            var sx = new ReadOnlySpan<float>((float*)px + first, count);
            var sy = new Span<float>((float*)py + first, count);
            var op = default(TOp);
            int i = 0;
            if (typeof(TOp) == typeof(GeluErf))
                for (int w = Vector<float>.Count; i <= sy.Length - w; i += w) GeluErf.Forward(new Vector<float>(sx.Slice(i, w))).CopyTo(sy.Slice(i, w));
            else if (typeof(TOp) == typeof(Ops.RoundBf16)) { RoundBf16(sx, sy); return; }
            else if (VectorPath<TOp>.Forward is { } forward) i = forward(sx, sy);
            for (; i < sy.Length; i++) sy[i] = op.Forward(sx[i]);
        });
    }

    /// <summary>dx = op'(x)·dy with the operator's own code.</summary>
    public static void UnaryBackward<TOp>(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> dx) where TOp : struct, IUnaryOp
    {
        nint px = (nint)x.LoadEffectiveAddressAsPtr<float>(), pdy = (nint)dy.LoadEffectiveAddressAsPtr<float>(),
            pdx = (nint)dx.LoadEffectiveAddressAsPtr<float>();
        Blocks(dx.IntLength, (first, count) =>
        {
            var sx = new ReadOnlySpan<float>((float*)px + first, count);
            var sdy = new ReadOnlySpan<float>((float*)pdy + first, count);
            var sdx = new Span<float>((float*)pdx + first, count);
            var op = default(TOp);
            int i = 0;
            if (typeof(TOp) == typeof(GeluErf))
                for (int w = Vector<float>.Count; i <= sdx.Length - w; i += w)
                    GeluErf.Backward(new Vector<float>(sx.Slice(i, w)), new Vector<float>(sdy.Slice(i, w))).CopyTo(sdx.Slice(i, w));
            else if (typeof(TOp) == typeof(Ops.RoundBf16)) { RoundBf16(sdy, sdx); return; }
            else if (VectorPath<TOp>.Backward is { } backward) i = backward(sx, sdy, sdx);
            for (; i < sdx.Length; i++) sdx[i] = op.Backward(sx[i], sdy[i]);
        });
    }

    delegate int VectorForward(ReadOnlySpan<float> x, Span<float> y);
    delegate int VectorBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx);

    /// <summary>For an op that implements <see cref="IVectorUnaryOp"/>, loops over whole vectors (returning how many
    /// elements they covered; the scalar loop does the rest); null for any other op. Bound once per op type, by
    /// reflection, because a constraint cannot be tested and then relied on in the same generic method.</summary>
    static class VectorPath<TOp> where TOp : struct, IUnaryOp
    {
        public static readonly VectorForward? Forward = Bind<VectorForward>(nameof(VectorForwardLoop));
        public static readonly VectorBackward? Backward = Bind<VectorBackward>(nameof(VectorBackwardLoop));

        static T? Bind<T>(string method) where T : Delegate =>
            typeof(IVectorUnaryOp).IsAssignableFrom(typeof(TOp))
                ? typeof(HostSimd).GetMethod(method, System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!
                    .MakeGenericMethod(typeof(TOp)).CreateDelegate<T>()
                : null;
    }

    static int VectorForwardLoop<TOp>(ReadOnlySpan<float> x, Span<float> y) where TOp : struct, IVectorUnaryOp
    {
        var op = default(TOp);
        int i = 0, w = Vector<float>.Count;
        for (; i <= y.Length - w; i += w) op.Forward(new Vector<float>(x.Slice(i, w))).CopyTo(y.Slice(i, w));
        return i;
    }

    static int VectorBackwardLoop<TOp>(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx) where TOp : struct, IVectorUnaryOp
    {
        var op = default(TOp);
        int i = 0, w = Vector<float>.Count;
        for (; i <= dx.Length - w; i += w)
            op.Backward(new Vector<float>(x.Slice(i, w)), new Vector<float>(dy.Slice(i, w))).CopyTo(dx.Slice(i, w));
        return i;
    }

    static Span<BFloat16> Span(ArrayView<BFloat16> v) =>
        v.Length == 0 ? default : new Span<BFloat16>((void*)v.LoadEffectiveAddressAsPtr<BFloat16>(), v.IntLength);

    /// <summary>x rounded to bf16 and widened back (RoundBf16's forward; its backward rounds dy), SIMD-wide.</summary>
    static void RoundBf16(ReadOnlySpan<float> x, Span<float> y) => BFloat16Spans.RoundAsFloat(x, y);

    /// <summary>fp32 → bf16, round to nearest even (the kernel's code), SIMD-wide.</summary>
    public static void ToBFloat16(ArrayView<float> x, ArrayView<BFloat16> y) => BFloat16Spans.Round(Span(x), Span(y));

    /// <summary>bf16 → fp32 (exact), SIMD-wide.</summary>
    public static void ToFloat32(ArrayView<BFloat16> x, ArrayView<float> y) => BFloat16Spans.Widen(Span(x), Span(y));

    /// <summary>x seen as (outer, n0, mid, n1, inner) → y as (outer, n1, mid, n0, inner), copying inner runs.</summary>
    public static void Transpose(ArrayView<float> x, int outer, int n0, int mid, int n1, int inner, ArrayView<float> y)
    {
        Span<float> sx = Span(x), sy = Span(y);
        if (inner == 1)
        {
            // Single elements: a copy per element cost ~6 ns (a 1024 x 50304 gradient took 0.3 s). Tiles of 32 rows of x
            // by 8 columns: y's rows (x's columns) are often a multiple of 4 KiB apart, which puts their cache lines
            // in one L1 set, so a tile writes to only 8 of them at a time, each a contiguous run of 32.
            const int Rows = 32, Cols = 8;
            long xRow = (long)mid * n1, yRow = (long)mid * n0;
            for (int a = 0; a < outer; a++)
                for (int b = 0; b < mid; b++)
                {
                    var xs = sx.Slice((int)((long)a * n0 * xRow + (long)b * n1));
                    var ys = sy.Slice((int)((long)a * n1 * yRow + (long)b * n0));
                    for (int r0 = 0; r0 < n0; r0 += Rows)
                        for (int c0 = 0; c0 < n1; c0 += Cols)
                        {
                            int r1 = Math.Min(n0, r0 + Rows), c1 = Math.Min(n1, c0 + Cols);
                            for (int c = c0; c < c1; c++)
                            {
                                var yRun = ys.Slice((int)(c * yRow + r0), r1 - r0);
                                for (int r = r0; r < r1; r++) yRun[r - r0] = xs[(int)(r * xRow + c)];
                            }
                        }
                }
            return;
        }
        for (int a = 0; a < outer; a++)
            for (int i1 = 0; i1 < n1; i1++)
                for (int b = 0; b < mid; b++)
                    for (int i0 = 0; i0 < n0; i0++)
                        sx.Slice((((a * n0 + i0) * mid + b) * n1 + i1) * inner, inner)
                          .CopyTo(sy.Slice((((a * n1 + i1) * mid + b) * n0 + i0) * inner, inner));
    }

    /// <summary>dst[r, dstCol + c] = src[r, srcCol + c] for a rows × width block.</summary>
    public static void CopyColumns(ArrayView<float> src, int srcWidth, int srcCol, ArrayView<float> dst, int dstWidth, int dstCol, int rows, int width)
    {
        Span<float> s = Span(src), d = Span(dst);
        for (int r = 0; r < rows; r++) s.Slice(r * srcWidth + srcCol, width).CopyTo(d.Slice(r * dstWidth + dstCol, width));
    }

    /// <summary>y[i] = alpha·g[i / width].</summary>
    public static void Repeat(ArrayView<float> g, int width, float alpha, ArrayView<float> y)
    {
        Span<float> sg = Span(g), sy = Span(y);
        for (int r = 0; r < sg.Length; r++) sy.Slice(r * width, width).Fill(alpha * sg[r]);
    }

    /// <summary>y[r] = Σ_c x[r, c], left to right (the kernel's order with one lane).</summary>
    public static void RowSums(ArrayView<float> x, int rows, int width, ArrayView<float> y)
    {
        Span<float> sx = Span(x), sy = Span(y);
        for (int r = 0; r < rows; r++)
        {
            float s = 0f;
            var row = sx.Slice(r * width, width);
            for (int c = 0; c < row.Length; c++) s += row[c];
            sy[r] = s;
        }
    }
}
