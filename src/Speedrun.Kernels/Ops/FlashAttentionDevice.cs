using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using BFloat16 = Speedrun.Kernels.Numerics.BFloat16;

namespace Speedrun.Kernels.Ops;

// The ILGPU kernels of block-sparse flash attention (maths in FlashAttention.cs). Two paths, chosen explicitly
// (FlashAttentionPath):
//
// Fp32: one thread per query row (forward, dq) or key row (dk, dv), a group per (b·h, block). The group walks
//   its block's list of key blocks (or, for dk/dv, the transposed list of query blocks) in chunks of 16 rows
//   staged in shared memory; each thread keeps its row's running max m, sum l and accumulators in local memory:
//     forward  m' = max(m, max_j s_ij),  l' = l·e^{m−m'} + Σ_j e^{s_ij−m'},  acc' = acc·e^{m−m'} + Σ_j e^{s_ij−m'} v_j
//     dk, dv   per visible (i, j): p = e^{s_ij − lse_i}, dv_j += p dy_i, ds = p (dy_i·v_j − Δ_i), dk_j += ds q_i
//     dq       per visible (i, j): the same ds, dq_i += ds k_j
//   Works for any warp size; the reference for the other path.
//
// Bf16Mma: one warp per 16-row tile (16 queries, or 16 keys for dk/dv), independent of the other warps of its
//   group (no shared memory, no group barrier). Each product is a sequence of m16n8k16 bf16 MMAs with fp32
//   accumulation, on fragments laid out as the PTX ISA defines them for mma.sync (g = lane/4, t = lane%4):
//     A 16×16 (row):  a0 = A[g][2t,2t+1]  a1 = A[g+8][2t,2t+1]  a2 = A[g][2t+8,2t+9]  a3 = A[g+8][2t+8,2t+9]
//     B 16×8  (col):  b0 = B[2t,2t+1][g]  b1 = B[2t+8,2t+9][g]
//     C 16×8  (f32):  c0,c1 = C[g][2t,2t+1]   c2,c3 = C[g+8][2t,2t+1]
//   (two bf16 in a b32, the lower column/row index in the low half). Two C tiles side by side are exactly an A
//   fragment, so probabilities go from the score product into the value product without leaving registers.
//     forward  S = Q Kᵀ, online softmax on the fragments (row max and sum over the 4 lanes of a quad), O += P V
//     dk, dv   Sᵀ = K Qᵀ, Pᵀ = e^{scale·Sᵀ − lse}, dV += Pᵀ dY, dPᵀ = V dYᵀ, dSᵀ = Pᵀ(dPᵀ − Δ), dK += dSᵀ Q
//     dq       S = Q Kᵀ, P, dP = dY Vᵀ, dS = P(dP − Δ), dQ += dS K
//   On CUDA the MMA is the mma.sync instruction (inline PTX). Elsewhere (the CPU accelerator with 32-lane warps)
//   Mma.MultiplyEmulated computes the same product from the same per-lane fragments (exchanged through shared
//   memory), so every line except the instruction itself runs in the tests. q, k, v, dy are rounded to bf16 as
//   they are loaded, p and ds before their products; scores, softmax, sums, lse and Δ stay fp32 (Δ is taken
//   with dy rounded as the MMAs see it, so that Σ_j ds_ij = 0 still holds).
//
// Both: Δ_i = dy_i·y_i comes first (DeltaKernel). The mask is evaluated only in partial blocks; keys and queries
// past T are never visible. A row that sees no key gets y = 0, lse = −∞ and dq = 0; a key no row sees gets
// dk = dv = 0. Gradients are written, never accumulated, and every output element has one writer (no atomics).

/// <summary>Which flash-attention kernels a <see cref="FlashAttentionDevice"/> runs.</summary>
internal enum FlashAttentionPath
{
    /// <summary>fp32 CUDA-core kernels, any warp size.</summary>
    Fp32,
    /// <summary>bf16 tensor-core products (mma.sync m16n8k16) with fp32 softmax; needs 32-lane warps. On the CPU
    /// accelerator the instruction is emulated with warp shuffles.</summary>
    Bf16Mma,
}

/// <summary>Sizes every flash-attention kernel takes.</summary>
internal readonly struct FlashShape(int heads, int length, int dim, float scale)
{
    /// <summary>B·H: the (batch, head) matrices.</summary>
    public readonly int Heads = heads;
    public readonly int T = length;
    public readonly int D = dim;
    public readonly float Scale = scale;
}

/// <summary>An A fragment of m16n8k16: four b32 registers of two bf16 each.</summary>
internal readonly struct MmaA(uint a0, uint a1, uint a2, uint a3)
{
    public readonly uint A0 = a0, A1 = a1, A2 = a2, A3 = a3;
}

/// <summary>A B fragment of m16n8k16: two b32 registers of two bf16 each.</summary>
internal readonly struct MmaB(uint b0, uint b1)
{
    public readonly uint B0 = b0, B1 = b1;
}

/// <summary>A C/D fragment of m16n8k16: four fp32 values, rows g and g + 8, columns 2t and 2t + 1.</summary>
internal readonly struct MmaC(float c0, float c1, float c2, float c3)
{
    public readonly float C0 = c0, C1 = c1, C2 = c2, C3 = c3;

    /// <summary>Row g scaled by <paramref name="upper"/>, row g + 8 by <paramref name="lower"/>.</summary>
    public MmaC Scale(float upper, float lower) => new(C0 * upper, C1 * upper, C2 * lower, C3 * lower);
}

/// <summary>Per-lane fragment maths of m16n8k16 bf16 MMAs, shared by the instruction and its emulation.</summary>
internal static class Mma
{
    /// <summary>Two floats rounded to bf16 (nearest even) in one b32, <paramref name="low"/> in the low half.</summary>
    public static uint Pack(float low, float high) => BFloat16.Round(low) | ((uint)BFloat16.Round(high) << 16);

    static float Low(uint x) => Interop.IntAsFloat(x << 16);
    static float High(uint x) => Interop.IntAsFloat(x & 0xFFFF0000u);

    /// <summary>x[head + row·cols + col] when row &lt; rows and col &lt; cols, else 0 (tiles past T or D).</summary>
    static float At(ArrayView<float> x, long head, int row, int col, int rows, int cols) =>
        row < rows && col < cols ? x[head + (long)row * cols + col] : 0f;

    /// <summary>The A fragment of the 16×16 tile of row-major x (rows × cols) at (r0, c0).</summary>
    public static MmaA LoadA(ArrayView<float> x, long head, int r0, int c0, int rows, int cols, int g, int t)
    {
        int ra = r0 + g, rb = ra + 8, ca = c0 + 2 * t, cb = ca + 8;
        return new MmaA(
            Pack(At(x, head, ra, ca, rows, cols), At(x, head, ra, ca + 1, rows, cols)),
            Pack(At(x, head, rb, ca, rows, cols), At(x, head, rb, ca + 1, rows, cols)),
            Pack(At(x, head, ra, cb, rows, cols), At(x, head, ra, cb + 1, rows, cols)),
            Pack(At(x, head, rb, cb, rows, cols), At(x, head, rb, cb + 1, rows, cols)));
    }

    /// <summary>The B fragment B[k][n] = x[n0 + n][k0 + k] (B is a transposed tile of x: keys for q·kᵀ).</summary>
    public static MmaB LoadBTransposed(ArrayView<float> x, long head, int n0, int k0, int rows, int cols, int g, int t)
    {
        int r = n0 + g, ca = k0 + 2 * t, cb = ca + 8;
        return new MmaB(
            Pack(At(x, head, r, ca, rows, cols), At(x, head, r, ca + 1, rows, cols)),
            Pack(At(x, head, r, cb, rows, cols), At(x, head, r, cb + 1, rows, cols)));
    }

    /// <summary>The B fragment B[k][n] = x[k0 + k][n0 + n] (a plain tile of x: values for p·v).</summary>
    public static MmaB LoadB(ArrayView<float> x, long head, int k0, int n0, int rows, int cols, int g, int t)
    {
        int c = n0 + g, ra = k0 + 2 * t, rb = ra + 8;
        return new MmaB(
            Pack(At(x, head, ra, c, rows, cols), At(x, head, ra + 1, c, rows, cols)),
            Pack(At(x, head, rb, c, rows, cols), At(x, head, rb + 1, c, rows, cols)));
    }

    /// <summary>Two 16×8 C tiles side by side (columns 0-7, 8-15) as the A fragment of the 16×16 matrix.</summary>
    public static MmaA ToA(MmaC left, MmaC right) =>
        new(Pack(left.C0, left.C1), Pack(left.C2, left.C3), Pack(right.C0, right.C1), Pack(right.C2, right.C3));

    /// <summary>D = A·B + C for one warp (every lane must call it).</summary>
    public static MmaC Multiply(MmaC c, MmaA a, MmaB b)
    {
        if (CudaAsm.IsSupported)
        {
            // mma.sync.aligned needs the whole warp at the same instruction: reconverge after the per-lane
            // branches (bounds, mask) that precede it.
            Warp.Barrier();
            Ref<float> d0 = c.C0, d1 = c.C1, d2 = c.C2, d3 = c.C3;
            Input<uint> a0 = a.A0, a1 = a.A1, a2 = a.A2, a3 = a.A3, b0 = b.B0, b1 = b.B1;
            CudaAsm.EmitRef(
                "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};",
                ref d0, ref d1, ref d2, ref d3, ref a0, ref a1, ref a2, ref a3, ref b0, ref b1);
            return new MmaC(d0.Value, d1.Value, d2.Value, d3.Value);
        }
        return MultiplyEmulated(c, a, b);
    }

    /// <summary>uints of dynamic shared memory the emulation stages per warp (launches off CUDA request them).</summary>
    public const int EmulationWordsPerWarp = 32 * 6;

    /// <summary>
    /// The MMA from the fragment layout alone: lane (g, t) needs rows g and g + 8 of A, held by lanes 4g + u, and
    /// columns 2t, 2t + 1 of B, held by lanes 8t + u and 8t + 4 + u (u = 0..3, each holding k = 2u, 2u + 1,
    /// 2u + 8, 2u + 9). The lanes post their registers to shared memory and read the ones they need: two warp
    /// barriers a product, where shuffles would cost twelve exchanges on the CPU accelerator. bf16 products are
    /// exact in fp32; the sums are fp32, as on the tensor core (whose summation order is unspecified). The
    /// scratch is dynamic shared memory (<see cref="EmulationWordsPerWarp"/> a warp, asked for by the launch), so
    /// the CUDA kernels, where this branch is compiled out, declare none.
    /// </summary>
    public static MmaC MultiplyEmulated(MmaC c, MmaA a, MmaB b)
    {
        const int Words = 6;
        var scratch = SharedMemory.GetDynamic<uint>();
        int lane = Warp.LaneIdx, g = lane >> 2, t = lane & 3, warp = Warp.WarpIdx * 32 * Words;
        int own = warp + lane * Words;
        scratch[own] = a.A0;
        scratch[own + 1] = a.A1;
        scratch[own + 2] = a.A2;
        scratch[own + 3] = a.A3;
        scratch[own + 4] = b.B0;
        scratch[own + 5] = b.B1;
        Warp.Barrier();
        float c0 = c.C0, c1 = c.C1, c2 = c.C2, c3 = c.C3;
        for (int u = 0; u < 4; u++)
        {
            int rows = warp + (4 * g + u) * Words, left = warp + (8 * t + u) * Words, right = warp + (8 * t + 4 + u) * Words;
            uint a0 = scratch[rows], a1 = scratch[rows + 1], a2 = scratch[rows + 2], a3 = scratch[rows + 3];
            uint l0 = scratch[left + 4], l1 = scratch[left + 5], r0 = scratch[right + 4], r1 = scratch[right + 5];
            c0 += Dot(a0, l0) + Dot(a2, l1); // row g, column 2t
            c1 += Dot(a0, r0) + Dot(a2, r1); // row g, column 2t + 1
            c2 += Dot(a1, l0) + Dot(a3, l1); // row g + 8, column 2t
            c3 += Dot(a1, r0) + Dot(a3, r1); // row g + 8, column 2t + 1
        }
        Warp.Barrier(); // every lane has read before the next product overwrites
        return new MmaC(c0, c1, c2, c3);
    }

    static float Dot(uint x, uint y) => Low(x) * Low(y) + High(x) * High(y);

    /// <summary>Max over the four lanes of a quad (one fragment row).</summary>
    public static float QuadMax(float x)
    {
        x = XMath.Max(x, Warp.ShuffleXor(x, 1));
        return XMath.Max(x, Warp.ShuffleXor(x, 2));
    }

    /// <summary>Sum over the four lanes of a quad, in the same order on every lane.</summary>
    public static float QuadSum(float x)
    {
        x += Warp.ShuffleXor(x, 1);
        return x + Warp.ShuffleXor(x, 2);
    }
}

internal static class FlashAttentionKernelMethods
{
    /// <summary>Largest head dimension (local arrays and shared tiles are sized for it).</summary>
    public const int MaxD = 128;
    /// <summary>Rows staged in shared memory at a time by the fp32 kernels.</summary>
    const int Chunk = 16;
    /// <summary>Rows (queries or keys) of a warp's tile in the MMA kernels.</summary>
    const int Tile = 16;

    /// <summary>Entry e of a block's list: its full blocks, then its partial ones.</summary>
    static int Entry(ArrayView<int> full, ArrayView<int> partial, int row, int blocks, int e, int fullCount) =>
        e < fullCount ? full[row * blocks + e] : partial[row * blocks + e - fullCount];

    /// <summary>Δ_i = dy_i · y_i for every row (0 for rows that saw nothing: their y is 0). With
    /// <paramref name="bf16Dy"/> ≠ 0, dy is rounded to bf16 first, as the MMA path rounds it in dp = dy·v: then
    /// Δ_i = Σ_j p_ij dp_ij holds up to fp32 sums, and ds = p (dp − Δ) carries no dy-rounding offset.</summary>
    [Kernel]
    internal static void DeltaKernel(ArrayView<float> dy, ArrayView<float> y, ArrayView<float> delta, int rows, int D,
        int bf16Dy)
    {
        int stride = Threads.Count;
        for (int r = Threads.Index; r < rows; r += stride)
        {
            long o = (long)r * D;
            float sum = 0f;
            for (int d = 0; d < D; d++)
            {
                float g = dy[o + d];
                if (bf16Dy != 0) g = BFloat16.Widen(BFloat16.Round(g));
                sum += g * y[o + d];
            }
            delta[r] = sum;
        }
    }

    // ---------------------------------------------------------------------------------------------------- fp32

    /// <summary>Forward, one group per (b·h, query block), one thread per query row.</summary>
    [Kernel(typeof(CausalMask), typeof(FullMask))]
    internal static void ForwardFp32Kernel<TMask>(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        ArrayView<float> y, ArrayView<float> lse, BlockSparsity blocks, TMask mask, FlashShape shape)
        where TMask : struct, IMaskMod
    {
        var kTile = SharedMemory.Allocate<float>(Chunk * MaxD);
        var vTile = SharedMemory.Allocate<float>(Chunk * MaxD);
        var qi = LocalMemory.Allocate<float>(MaxD);
        var acc = LocalMemory.Allocate<float>(MaxD);
        var s = LocalMemory.Allocate<float>(Chunk);
        int T = shape.T, D = shape.D, bs = blocks.BlockSize, n = blocks.Blocks, tid = Group.IdxX, size = Group.DimX;
        float scale = shape.Scale;
        for (int item = Grid.IdxX; item < shape.Heads * n; item += Grid.DimX)
        {
            int bh = item / n, qb = item % n, q0 = qb * bs, rows = XMath.Min(bs, T - q0);
            long head = (long)bh * T * D;
            int fullCount = blocks.FullCount[qb], count = fullCount + blocks.PartialCount[qb];
            for (int pass = 0; pass < rows; pass += size)
            {
                int i = q0 + pass + tid;
                bool active = pass + tid < rows;
                if (active)
                    for (int d = 0; d < D; d++) { qi[d] = q[head + (long)i * D + d]; acc[d] = 0f; }
                float m = float.NegativeInfinity, l = 0f;
                for (int e = 0; e < count; e++)
                {
                    bool partial = e >= fullCount;
                    int k0 = Entry(blocks.FullIndex, blocks.PartialIndex, qb, n, e, fullCount) * bs;
                    int kEnd = XMath.Min(T, k0 + bs);
                    for (int c0 = k0; c0 < kEnd; c0 += Chunk)
                    {
                        int cn = XMath.Min(Chunk, kEnd - c0);
                        Group.Barrier(); // the previous chunk is used up
                        long src = head + (long)c0 * D;
                        for (int x = tid; x < cn * D; x += size) { kTile[x] = k[src + x]; vTile[x] = v[src + x]; }
                        Group.Barrier();
                        if (!active) continue;
                        float chunkMax = float.NegativeInfinity;
                        for (int j = 0; j < cn; j++)
                        {
                            float score = float.NegativeInfinity;
                            if (!partial || mask.Visible(i, c0 + j))
                            {
                                float dot = 0f;
                                for (int d = 0; d < D; d++) dot += qi[d] * kTile[j * D + d];
                                score = scale * dot;
                            }
                            s[j] = score;
                            chunkMax = XMath.Max(chunkMax, score);
                        }
                        if (chunkMax == float.NegativeInfinity) continue; // nothing visible in this chunk
                        float mNew = XMath.Max(m, chunkMax);
                        float correction = KernelMath.Exp(m - mNew); // 0 while m is still −∞
                        l *= correction;
                        for (int d = 0; d < D; d++) acc[d] *= correction;
                        for (int j = 0; j < cn; j++)
                        {
                            if (s[j] == float.NegativeInfinity) continue;
                            float p = KernelMath.Exp(s[j] - mNew);
                            l += p;
                            for (int d = 0; d < D; d++) acc[d] += p * vTile[j * D + d];
                        }
                        m = mNew;
                    }
                }
                if (!active) continue;
                float inverse = l > 0f ? 1f / l : 0f;
                for (int d = 0; d < D; d++) y[head + (long)i * D + d] = acc[d] * inverse;
                lse[(long)bh * T + i] = l > 0f ? m + XMath.Log(l) : float.NegativeInfinity;
            }
        }
    }

    /// <summary>dk and dv, one group per (b·h, key block), one thread per key row, walking the query blocks that
    /// see the key block.</summary>
    [Kernel(typeof(CausalMask), typeof(FullMask))]
    internal static void KeyValueGradFp32Kernel<TMask>(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        ArrayView<float> dy, ArrayView<float> lse, ArrayView<float> delta, ArrayView<float> dk, ArrayView<float> dv,
        BlockSparsity blocks, TMask mask, FlashShape shape)
        where TMask : struct, IMaskMod
    {
        var qTile = SharedMemory.Allocate<float>(Chunk * MaxD);
        var dyTile = SharedMemory.Allocate<float>(Chunk * MaxD);
        var lseTile = SharedMemory.Allocate<float>(Chunk);
        var deltaTile = SharedMemory.Allocate<float>(Chunk);
        var kj = LocalMemory.Allocate<float>(MaxD);
        var vj = LocalMemory.Allocate<float>(MaxD);
        var dkj = LocalMemory.Allocate<float>(MaxD);
        var dvj = LocalMemory.Allocate<float>(MaxD);
        int T = shape.T, D = shape.D, bs = blocks.BlockSize, n = blocks.Blocks, tid = Group.IdxX, size = Group.DimX;
        float scale = shape.Scale;
        for (int item = Grid.IdxX; item < shape.Heads * n; item += Grid.DimX)
        {
            int bh = item / n, kb = item % n, k0 = kb * bs, keys = XMath.Min(bs, T - k0);
            long head = (long)bh * T * D, rowHead = (long)bh * T;
            int fullCount = blocks.FullQueryCount[kb], count = fullCount + blocks.PartialQueryCount[kb];
            for (int pass = 0; pass < keys; pass += size)
            {
                int j = k0 + pass + tid;
                bool active = pass + tid < keys;
                if (active)
                    for (int d = 0; d < D; d++)
                    {
                        kj[d] = k[head + (long)j * D + d];
                        vj[d] = v[head + (long)j * D + d];
                        dkj[d] = 0f;
                        dvj[d] = 0f;
                    }
                for (int e = 0; e < count; e++)
                {
                    bool partial = e >= fullCount;
                    int i0 = Entry(blocks.FullQueryIndex, blocks.PartialQueryIndex, kb, n, e, fullCount) * bs;
                    int iEnd = XMath.Min(T, i0 + bs);
                    for (int c0 = i0; c0 < iEnd; c0 += Chunk)
                    {
                        int cn = XMath.Min(Chunk, iEnd - c0);
                        Group.Barrier();
                        long src = head + (long)c0 * D;
                        for (int x = tid; x < cn * D; x += size) { qTile[x] = q[src + x]; dyTile[x] = dy[src + x]; }
                        for (int x = tid; x < cn; x += size)
                        {
                            lseTile[x] = lse[rowHead + c0 + x];
                            deltaTile[x] = delta[rowHead + c0 + x];
                        }
                        Group.Barrier();
                        if (!active) continue;
                        for (int r = 0; r < cn; r++)
                        {
                            float rowLse = lseTile[r];
                            if (rowLse == float.NegativeInfinity || (partial && !mask.Visible(c0 + r, j))) continue;
                            float qk = 0f, dyv = 0f;
                            for (int d = 0; d < D; d++)
                            {
                                qk += qTile[r * D + d] * kj[d];
                                dyv += dyTile[r * D + d] * vj[d];
                            }
                            float p = KernelMath.Exp(scale * qk - rowLse);
                            float ds = p * (dyv - deltaTile[r]);
                            for (int d = 0; d < D; d++)
                            {
                                dvj[d] += p * dyTile[r * D + d];
                                dkj[d] += ds * qTile[r * D + d];
                            }
                        }
                    }
                }
                if (!active) continue;
                for (int d = 0; d < D; d++)
                {
                    dk[head + (long)j * D + d] = scale * dkj[d];
                    dv[head + (long)j * D + d] = dvj[d];
                }
            }
        }
    }

    /// <summary>dq, one group per (b·h, query block), one thread per query row.</summary>
    [Kernel(typeof(CausalMask), typeof(FullMask))]
    internal static void QueryGradFp32Kernel<TMask>(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        ArrayView<float> dy, ArrayView<float> lse, ArrayView<float> delta, ArrayView<float> dq,
        BlockSparsity blocks, TMask mask, FlashShape shape)
        where TMask : struct, IMaskMod
    {
        var kTile = SharedMemory.Allocate<float>(Chunk * MaxD);
        var vTile = SharedMemory.Allocate<float>(Chunk * MaxD);
        var qi = LocalMemory.Allocate<float>(MaxD);
        var dyi = LocalMemory.Allocate<float>(MaxD);
        var dqi = LocalMemory.Allocate<float>(MaxD);
        int T = shape.T, D = shape.D, bs = blocks.BlockSize, n = blocks.Blocks, tid = Group.IdxX, size = Group.DimX;
        float scale = shape.Scale;
        for (int item = Grid.IdxX; item < shape.Heads * n; item += Grid.DimX)
        {
            int bh = item / n, qb = item % n, q0 = qb * bs, rows = XMath.Min(bs, T - q0);
            long head = (long)bh * T * D;
            int fullCount = blocks.FullCount[qb], count = fullCount + blocks.PartialCount[qb];
            for (int pass = 0; pass < rows; pass += size)
            {
                int i = q0 + pass + tid;
                bool active = pass + tid < rows;
                float rowLse = float.NegativeInfinity, rowDelta = 0f;
                if (active)
                {
                    rowLse = lse[(long)bh * T + i];
                    rowDelta = delta[(long)bh * T + i];
                    for (int d = 0; d < D; d++)
                    {
                        qi[d] = q[head + (long)i * D + d];
                        dyi[d] = dy[head + (long)i * D + d];
                        dqi[d] = 0f;
                    }
                }
                for (int e = 0; e < count; e++)
                {
                    bool partial = e >= fullCount;
                    int k0 = Entry(blocks.FullIndex, blocks.PartialIndex, qb, n, e, fullCount) * bs;
                    int kEnd = XMath.Min(T, k0 + bs);
                    for (int c0 = k0; c0 < kEnd; c0 += Chunk)
                    {
                        int cn = XMath.Min(Chunk, kEnd - c0);
                        Group.Barrier();
                        long src = head + (long)c0 * D;
                        for (int x = tid; x < cn * D; x += size) { kTile[x] = k[src + x]; vTile[x] = v[src + x]; }
                        Group.Barrier();
                        if (!active || rowLse == float.NegativeInfinity) continue;
                        for (int j = 0; j < cn; j++)
                        {
                            if (partial && !mask.Visible(i, c0 + j)) continue;
                            float qk = 0f, dyv = 0f;
                            for (int d = 0; d < D; d++)
                            {
                                qk += qi[d] * kTile[j * D + d];
                                dyv += dyi[d] * vTile[j * D + d];
                            }
                            float ds = KernelMath.Exp(scale * qk - rowLse) * (dyv - rowDelta);
                            for (int d = 0; d < D; d++) dqi[d] += ds * kTile[j * D + d];
                        }
                    }
                }
                if (!active) continue;
                for (int d = 0; d < D; d++) dq[head + (long)i * D + d] = scale * dqi[d];
            }
        }
    }

    // ------------------------------------------------------------------------------------------- bf16 MMA

    /// <summary>scale·s when query i sees key j (both inside T; the mask only in partial blocks), else −∞.</summary>
    static float Score<TMask>(float s, int i, int j, int T, bool partial, TMask mask, float scale)
        where TMask : struct, IMaskMod =>
        i < T && j < T && (!partial || mask.Visible(i, j)) ? scale * s : float.NegativeInfinity;

    /// <summary>e^{x − m}, or 0 for a hidden score.</summary>
    static float Weight(float x, float m) => x == float.NegativeInfinity ? 0f : KernelMath.Exp(x - m);

    /// <summary>p = e^{scale·s − lse} when query i sees key j and saw anything at all, else 0.</summary>
    static float Probability<TMask>(float s, int i, int j, float rowLse, int T, bool partial, TMask mask, float scale)
        where TMask : struct, IMaskMod =>
        rowLse != float.NegativeInfinity && i < T && j < T && (!partial || mask.Visible(i, j))
            ? KernelMath.Exp(scale * s - rowLse) : 0f;

    static float RowValue(ArrayView<float> x, long rowHead, int i, int T, float outside) =>
        i < T ? x[rowHead + i] : outside;

    /// <summary>Forward, one warp per 16 query rows: S = Q Kᵀ and O += P V as bf16 MMAs.</summary>
    [Kernel(typeof(CausalMask), typeof(FullMask))]
    internal static void ForwardMmaKernel<TMask>(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        ArrayView<float> y, ArrayView<float> lse, BlockSparsity blocks, TMask mask, FlashShape shape)
        where TMask : struct, IMaskMod
    {
        var qf = LocalMemory.Allocate<MmaA>(MaxD / 16);
        var o = LocalMemory.Allocate<MmaC>(MaxD / 8);
        int lane = Warp.LaneIdx, g = lane >> 2, t = lane & 3, warps = Group.DimX / Warp.WarpSize;
        int T = shape.T, D = shape.D, bs = blocks.BlockSize, n = blocks.Blocks;
        int kSteps = (D + 15) / 16, dTiles = (D + 7) / 8, tiles = (T + Tile - 1) / Tile;
        float scale = shape.Scale;
        for (int item = Grid.IdxX * warps + Warp.WarpIdx; item < shape.Heads * tiles; item += Grid.DimX * warps)
        {
            int bh = item / tiles, r0 = item % tiles * Tile, qb = r0 / bs, i0 = r0 + g, i1 = i0 + 8;
            long head = (long)bh * T * D;
            for (int s = 0; s < kSteps; s++) qf[s] = Mma.LoadA(q, head, r0, s * 16, T, D, g, t);
            for (int c = 0; c < dTiles; c++) o[c] = default;
            float m0 = float.NegativeInfinity, m1 = float.NegativeInfinity, l0 = 0f, l1 = 0f; // l: this lane's columns
            int fullCount = blocks.FullCount[qb], count = fullCount + blocks.PartialCount[qb];
            for (int e = 0; e < count; e++)
            {
                bool partial = e >= fullCount;
                int k0 = Entry(blocks.FullIndex, blocks.PartialIndex, qb, n, e, fullCount) * bs;
                int kEnd = XMath.Min(T, k0 + bs);
                for (int kt = k0; kt < kEnd; kt += Tile)
                {
                    MmaC left = default, right = default; // keys kt..kt+7, kt+8..kt+15
                    for (int s = 0; s < kSteps; s++)
                    {
                        var a = qf[s];
                        left = Mma.Multiply(left, a, Mma.LoadBTransposed(k, head, kt, s * 16, T, D, g, t));
                        right = Mma.Multiply(right, a, Mma.LoadBTransposed(k, head, kt + 8, s * 16, T, D, g, t));
                    }
                    int j = kt + 2 * t;
                    float x00 = Score(left.C0, i0, j, T, partial, mask, scale), x01 = Score(left.C1, i0, j + 1, T, partial, mask, scale);
                    float x02 = Score(right.C0, i0, j + 8, T, partial, mask, scale), x03 = Score(right.C1, i0, j + 9, T, partial, mask, scale);
                    float x10 = Score(left.C2, i1, j, T, partial, mask, scale), x11 = Score(left.C3, i1, j + 1, T, partial, mask, scale);
                    float x12 = Score(right.C2, i1, j + 8, T, partial, mask, scale), x13 = Score(right.C3, i1, j + 9, T, partial, mask, scale);
                    float new0 = XMath.Max(m0, Mma.QuadMax(XMath.Max(XMath.Max(x00, x01), XMath.Max(x02, x03))));
                    float new1 = XMath.Max(m1, Mma.QuadMax(XMath.Max(XMath.Max(x10, x11), XMath.Max(x12, x13))));
                    // Rescale what was summed at the old max; a row that has seen nothing yet keeps m = −∞.
                    float corr0 = new0 == float.NegativeInfinity ? 1f : KernelMath.Exp(m0 - new0);
                    float corr1 = new1 == float.NegativeInfinity ? 1f : KernelMath.Exp(m1 - new1);
                    float p00 = Weight(x00, new0), p01 = Weight(x01, new0), p02 = Weight(x02, new0), p03 = Weight(x03, new0);
                    float p10 = Weight(x10, new1), p11 = Weight(x11, new1), p12 = Weight(x12, new1), p13 = Weight(x13, new1);
                    l0 = l0 * corr0 + ((p00 + p01) + (p02 + p03));
                    l1 = l1 * corr1 + ((p10 + p11) + (p12 + p13));
                    m0 = new0;
                    m1 = new1;
                    var pa = Mma.ToA(new MmaC(p00, p01, p10, p11), new MmaC(p02, p03, p12, p13));
                    for (int c = 0; c < dTiles; c++)
                        o[c] = Mma.Multiply(o[c].Scale(corr0, corr1), pa, Mma.LoadB(v, head, kt, c * 8, T, D, g, t));
                }
            }
            l0 = Mma.QuadSum(l0);
            l1 = Mma.QuadSum(l1);
            float inv0 = l0 > 0f ? 1f / l0 : 0f, inv1 = l1 > 0f ? 1f / l1 : 0f;
            for (int c = 0; c < dTiles; c++)
            {
                var acc = o[c];
                int d = c * 8 + 2 * t;
                if (i0 < T && d < D) y[head + (long)i0 * D + d] = acc.C0 * inv0;
                if (i0 < T && d + 1 < D) y[head + (long)i0 * D + d + 1] = acc.C1 * inv0;
                if (i1 < T && d < D) y[head + (long)i1 * D + d] = acc.C2 * inv1;
                if (i1 < T && d + 1 < D) y[head + (long)i1 * D + d + 1] = acc.C3 * inv1;
            }
            if (t == 0)
            {
                if (i0 < T) lse[(long)bh * T + i0] = l0 > 0f ? m0 + XMath.Log(l0) : float.NegativeInfinity;
                if (i1 < T) lse[(long)bh * T + i1] = l1 > 0f ? m1 + XMath.Log(l1) : float.NegativeInfinity;
            }
        }
    }

    /// <summary>dk and dv, one warp per 16 key rows, walking the query blocks that see its key block:
    /// Sᵀ = K Qᵀ, dV += Pᵀ dY, dPᵀ = V dYᵀ, dK += dSᵀ Q as bf16 MMAs.</summary>
    [Kernel(typeof(CausalMask), typeof(FullMask))]
    internal static void KeyValueGradMmaKernel<TMask>(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        ArrayView<float> dy, ArrayView<float> lse, ArrayView<float> delta, ArrayView<float> dk, ArrayView<float> dv,
        BlockSparsity blocks, TMask mask, FlashShape shape)
        where TMask : struct, IMaskMod
    {
        var kf = LocalMemory.Allocate<MmaA>(MaxD / 16);
        var vf = LocalMemory.Allocate<MmaA>(MaxD / 16);
        var dkAcc = LocalMemory.Allocate<MmaC>(MaxD / 8);
        var dvAcc = LocalMemory.Allocate<MmaC>(MaxD / 8);
        int lane = Warp.LaneIdx, g = lane >> 2, t = lane & 3, warps = Group.DimX / Warp.WarpSize;
        int T = shape.T, D = shape.D, bs = blocks.BlockSize, n = blocks.Blocks;
        int kSteps = (D + 15) / 16, dTiles = (D + 7) / 8, tiles = (T + Tile - 1) / Tile;
        float scale = shape.Scale;
        for (int item = Grid.IdxX * warps + Warp.WarpIdx; item < shape.Heads * tiles; item += Grid.DimX * warps)
        {
            int bh = item / tiles, r0 = item % tiles * Tile, kb = r0 / bs, j0 = r0 + g, j1 = j0 + 8;
            long head = (long)bh * T * D, rowHead = (long)bh * T;
            for (int s = 0; s < kSteps; s++)
            {
                kf[s] = Mma.LoadA(k, head, r0, s * 16, T, D, g, t);
                vf[s] = Mma.LoadA(v, head, r0, s * 16, T, D, g, t);
            }
            for (int c = 0; c < dTiles; c++) { dkAcc[c] = default; dvAcc[c] = default; }
            int fullCount = blocks.FullQueryCount[kb], count = fullCount + blocks.PartialQueryCount[kb];
            for (int e = 0; e < count; e++)
            {
                bool partial = e >= fullCount;
                int q0 = Entry(blocks.FullQueryIndex, blocks.PartialQueryIndex, kb, n, e, fullCount) * bs;
                int qEnd = XMath.Min(T, q0 + bs);
                for (int it = q0; it < qEnd; it += Tile)
                {
                    // Rows are this warp's keys, columns the queries it..it+7 (left) and it+8..it+15 (right).
                    MmaC left = default, right = default, dpLeft = default, dpRight = default;
                    for (int s = 0; s < kSteps; s++)
                    {
                        left = Mma.Multiply(left, kf[s], Mma.LoadBTransposed(q, head, it, s * 16, T, D, g, t));
                        right = Mma.Multiply(right, kf[s], Mma.LoadBTransposed(q, head, it + 8, s * 16, T, D, g, t));
                        dpLeft = Mma.Multiply(dpLeft, vf[s], Mma.LoadBTransposed(dy, head, it, s * 16, T, D, g, t));
                        dpRight = Mma.Multiply(dpRight, vf[s], Mma.LoadBTransposed(dy, head, it + 8, s * 16, T, D, g, t));
                    }
                    int i = it + 2 * t;
                    float lse0 = RowValue(lse, rowHead, i, T, float.NegativeInfinity), lse1 = RowValue(lse, rowHead, i + 1, T, float.NegativeInfinity);
                    float lse2 = RowValue(lse, rowHead, i + 8, T, float.NegativeInfinity), lse3 = RowValue(lse, rowHead, i + 9, T, float.NegativeInfinity);
                    float dl0 = RowValue(delta, rowHead, i, T, 0f), dl1 = RowValue(delta, rowHead, i + 1, T, 0f);
                    float dl2 = RowValue(delta, rowHead, i + 8, T, 0f), dl3 = RowValue(delta, rowHead, i + 9, T, 0f);
                    float p00 = Probability(left.C0, i, j0, lse0, T, partial, mask, scale);
                    float p01 = Probability(left.C1, i + 1, j0, lse1, T, partial, mask, scale);
                    float p02 = Probability(right.C0, i + 8, j0, lse2, T, partial, mask, scale);
                    float p03 = Probability(right.C1, i + 9, j0, lse3, T, partial, mask, scale);
                    float p10 = Probability(left.C2, i, j1, lse0, T, partial, mask, scale);
                    float p11 = Probability(left.C3, i + 1, j1, lse1, T, partial, mask, scale);
                    float p12 = Probability(right.C2, i + 8, j1, lse2, T, partial, mask, scale);
                    float p13 = Probability(right.C3, i + 9, j1, lse3, T, partial, mask, scale);
                    var pa = Mma.ToA(new MmaC(p00, p01, p10, p11), new MmaC(p02, p03, p12, p13));
                    var dsa = Mma.ToA(
                        new MmaC(p00 * (dpLeft.C0 - dl0), p01 * (dpLeft.C1 - dl1), p10 * (dpLeft.C2 - dl0), p11 * (dpLeft.C3 - dl1)),
                        new MmaC(p02 * (dpRight.C0 - dl2), p03 * (dpRight.C1 - dl3), p12 * (dpRight.C2 - dl2), p13 * (dpRight.C3 - dl3)));
                    for (int c = 0; c < dTiles; c++)
                    {
                        dvAcc[c] = Mma.Multiply(dvAcc[c], pa, Mma.LoadB(dy, head, it, c * 8, T, D, g, t));
                        dkAcc[c] = Mma.Multiply(dkAcc[c], dsa, Mma.LoadB(q, head, it, c * 8, T, D, g, t));
                    }
                }
            }
            for (int c = 0; c < dTiles; c++)
            {
                MmaC gk = dkAcc[c], gv = dvAcc[c];
                int d = c * 8 + 2 * t;
                if (j0 < T && d < D) { dk[head + (long)j0 * D + d] = scale * gk.C0; dv[head + (long)j0 * D + d] = gv.C0; }
                if (j0 < T && d + 1 < D) { dk[head + (long)j0 * D + d + 1] = scale * gk.C1; dv[head + (long)j0 * D + d + 1] = gv.C1; }
                if (j1 < T && d < D) { dk[head + (long)j1 * D + d] = scale * gk.C2; dv[head + (long)j1 * D + d] = gv.C2; }
                if (j1 < T && d + 1 < D) { dk[head + (long)j1 * D + d + 1] = scale * gk.C3; dv[head + (long)j1 * D + d + 1] = gv.C3; }
            }
        }
    }

    /// <summary>dq, one warp per 16 query rows: S = Q Kᵀ, dP = dY Vᵀ, dQ += dS K as bf16 MMAs.</summary>
    [Kernel(typeof(CausalMask), typeof(FullMask))]
    internal static void QueryGradMmaKernel<TMask>(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        ArrayView<float> dy, ArrayView<float> lse, ArrayView<float> delta, ArrayView<float> dq,
        BlockSparsity blocks, TMask mask, FlashShape shape)
        where TMask : struct, IMaskMod
    {
        var qf = LocalMemory.Allocate<MmaA>(MaxD / 16);
        var dyf = LocalMemory.Allocate<MmaA>(MaxD / 16);
        var dqAcc = LocalMemory.Allocate<MmaC>(MaxD / 8);
        int lane = Warp.LaneIdx, g = lane >> 2, t = lane & 3, warps = Group.DimX / Warp.WarpSize;
        int T = shape.T, D = shape.D, bs = blocks.BlockSize, n = blocks.Blocks;
        int kSteps = (D + 15) / 16, dTiles = (D + 7) / 8, tiles = (T + Tile - 1) / Tile;
        float scale = shape.Scale;
        for (int item = Grid.IdxX * warps + Warp.WarpIdx; item < shape.Heads * tiles; item += Grid.DimX * warps)
        {
            int bh = item / tiles, r0 = item % tiles * Tile, qb = r0 / bs, i0 = r0 + g, i1 = i0 + 8;
            long head = (long)bh * T * D, rowHead = (long)bh * T;
            for (int s = 0; s < kSteps; s++)
            {
                qf[s] = Mma.LoadA(q, head, r0, s * 16, T, D, g, t);
                dyf[s] = Mma.LoadA(dy, head, r0, s * 16, T, D, g, t);
            }
            for (int c = 0; c < dTiles; c++) dqAcc[c] = default;
            float lse0 = RowValue(lse, rowHead, i0, T, float.NegativeInfinity), lse1 = RowValue(lse, rowHead, i1, T, float.NegativeInfinity);
            float dl0 = RowValue(delta, rowHead, i0, T, 0f), dl1 = RowValue(delta, rowHead, i1, T, 0f);
            int fullCount = blocks.FullCount[qb], count = fullCount + blocks.PartialCount[qb];
            for (int e = 0; e < count; e++)
            {
                bool partial = e >= fullCount;
                int k0 = Entry(blocks.FullIndex, blocks.PartialIndex, qb, n, e, fullCount) * bs;
                int kEnd = XMath.Min(T, k0 + bs);
                for (int kt = k0; kt < kEnd; kt += Tile)
                {
                    MmaC left = default, right = default, dpLeft = default, dpRight = default;
                    for (int s = 0; s < kSteps; s++)
                    {
                        left = Mma.Multiply(left, qf[s], Mma.LoadBTransposed(k, head, kt, s * 16, T, D, g, t));
                        right = Mma.Multiply(right, qf[s], Mma.LoadBTransposed(k, head, kt + 8, s * 16, T, D, g, t));
                        dpLeft = Mma.Multiply(dpLeft, dyf[s], Mma.LoadBTransposed(v, head, kt, s * 16, T, D, g, t));
                        dpRight = Mma.Multiply(dpRight, dyf[s], Mma.LoadBTransposed(v, head, kt + 8, s * 16, T, D, g, t));
                    }
                    int j = kt + 2 * t;
                    float p00 = Probability(left.C0, i0, j, lse0, T, partial, mask, scale);
                    float p01 = Probability(left.C1, i0, j + 1, lse0, T, partial, mask, scale);
                    float p02 = Probability(right.C0, i0, j + 8, lse0, T, partial, mask, scale);
                    float p03 = Probability(right.C1, i0, j + 9, lse0, T, partial, mask, scale);
                    float p10 = Probability(left.C2, i1, j, lse1, T, partial, mask, scale);
                    float p11 = Probability(left.C3, i1, j + 1, lse1, T, partial, mask, scale);
                    float p12 = Probability(right.C2, i1, j + 8, lse1, T, partial, mask, scale);
                    float p13 = Probability(right.C3, i1, j + 9, lse1, T, partial, mask, scale);
                    var dsa = Mma.ToA(
                        new MmaC(p00 * (dpLeft.C0 - dl0), p01 * (dpLeft.C1 - dl0), p10 * (dpLeft.C2 - dl1), p11 * (dpLeft.C3 - dl1)),
                        new MmaC(p02 * (dpRight.C0 - dl0), p03 * (dpRight.C1 - dl0), p12 * (dpRight.C2 - dl1), p13 * (dpRight.C3 - dl1)));
                    for (int c = 0; c < dTiles; c++)
                        dqAcc[c] = Mma.Multiply(dqAcc[c], dsa, Mma.LoadB(k, head, kt, c * 8, T, D, g, t));
                }
            }
            for (int c = 0; c < dTiles; c++)
            {
                var acc = dqAcc[c];
                int d = c * 8 + 2 * t;
                if (i0 < T && d < D) dq[head + (long)i0 * D + d] = scale * acc.C0;
                if (i0 < T && d + 1 < D) dq[head + (long)i0 * D + d + 1] = scale * acc.C1;
                if (i1 < T && d < D) dq[head + (long)i1 * D + d] = scale * acc.C2;
                if (i1 < T && d + 1 < D) dq[head + (long)i1 * D + d + 1] = scale * acc.C3;
            }
        }
    }
}

/// <summary>Flash attention's ILGPU kernels (CUDA; the CPU accelerator in tests), on one of two paths.</summary>
internal sealed class FlashAttentionDevice
{
    readonly Runtime.Device _device;
    readonly Dictionary<(Type Mask, string Kernel), Delegate> _loaded = new();
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int> _delta;

    /// <summary>The default path: bf16 tensor cores on CUDA, fp32 elsewhere.</summary>
    public FlashAttentionDevice(Runtime.Device device) : this(device, DefaultPath(device)) { }

    /// <summary>Tests pick the path; <see cref="FlashAttentionPath.Bf16Mma"/> needs 32-lane warps (CUDA, or a CPU
    /// accelerator built with them, where the MMA is emulated).</summary>
    internal FlashAttentionDevice(Runtime.Device device, FlashAttentionPath path)
    {
        if (path == FlashAttentionPath.Bf16Mma && device.Accelerator.WarpSize != 32)
            throw new ArgumentException(
                $"FlashAttention: the bf16 MMA path needs 32-lane warps; {device.Name} has {device.Accelerator.WarpSize}.");
        _device = device;
        Path = path;
        _delta = device.Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(
            FlashAttentionKernelMethods.DeltaKernel);
    }

    /// <summary>The kernels this instance runs.</summary>
    internal FlashAttentionPath Path { get; }

    static FlashAttentionPath DefaultPath(Runtime.Device device) =>
        device.IsCuda && device.Accelerator.WarpSize == 32 ? FlashAttentionPath.Bf16Mma : FlashAttentionPath.Fp32;

    public void Forward<TMask>(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, int B, int H, int T, int D,
        float scale, in BlockSparsity blocks, TMask mask, ArrayView<float> y, ArrayView<float> lse)
        where TMask : struct, IMaskMod
    {
        var shape = Shape("FlashAttention.Forward", B, H, T, D, scale);
        bool mma = Path == FlashAttentionPath.Bf16Mma;
        var kernel = Load<TMask, Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, BlockSparsity, TMask, FlashShape>>(mma ? "ForwardMma" : "ForwardFp32", acc => mma
            ? acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                BlockSparsity, TMask, FlashShape>(FlashAttentionKernelMethods.ForwardMmaKernel<TMask>)
            : acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                BlockSparsity, TMask, FlashShape>(FlashAttentionKernelMethods.ForwardFp32Kernel<TMask>));
        kernel(mma ? WarpGrid(shape) : BlockGrid(shape, blocks), q, k, v, y, lse, blocks, mask, shape);
    }

    public void Backward<TMask>(ArrayView<float> dy, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        ArrayView<float> y, ArrayView<float> lse, int B, int H, int T, int D, float scale, in BlockSparsity blocks,
        TMask mask, ArrayView<float> dq, ArrayView<float> dk, ArrayView<float> dv)
        where TMask : struct, IMaskMod
    {
        var shape = Shape("FlashAttention.Backward", B, H, T, D, scale);
        bool mma = Path == FlashAttentionPath.Bf16Mma;
        int rows = shape.Heads * T;
        using var delta = _device.Pool.Rent<float>(rows);
        _delta(_device.Launch.For(rows), dy, y, delta.View, rows, D, mma ? 1 : 0);

        var keyValue = Load<TMask, Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, BlockSparsity, TMask, FlashShape>>(
            mma ? "KeyValueGradMma" : "KeyValueGradFp32", acc => mma
                ? acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                    ArrayView<float>, ArrayView<float>, ArrayView<float>, BlockSparsity, TMask, FlashShape>(
                    FlashAttentionKernelMethods.KeyValueGradMmaKernel<TMask>)
                : acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                    ArrayView<float>, ArrayView<float>, ArrayView<float>, BlockSparsity, TMask, FlashShape>(
                    FlashAttentionKernelMethods.KeyValueGradFp32Kernel<TMask>));
        var query = Load<TMask, Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, BlockSparsity, TMask, FlashShape>>(
            mma ? "QueryGradMma" : "QueryGradFp32", acc => mma
                ? acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                    ArrayView<float>, ArrayView<float>, BlockSparsity, TMask, FlashShape>(FlashAttentionKernelMethods.QueryGradMmaKernel<TMask>)
                : acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                    ArrayView<float>, ArrayView<float>, BlockSparsity, TMask, FlashShape>(FlashAttentionKernelMethods.QueryGradFp32Kernel<TMask>));
        var grid = mma ? WarpGrid(shape) : BlockGrid(shape, blocks);
        keyValue(grid, q, k, v, dy, lse, delta.View, dk, dv, blocks, mask, shape);
        query(grid, q, k, v, dy, lse, delta.View, dq, blocks, mask, shape);
    }

    static FlashShape Shape(string op, int b, int h, int t, int d, float scale)
    {
        if (d < 1 || d > FlashAttentionKernelMethods.MaxD)
            throw new ArgumentException($"{op}: the ILGPU kernels support head dimensions 1 to {FlashAttentionKernelMethods.MaxD} (got D={d}).");
        if ((long)b * h * t * d > int.MaxValue)
            throw new ArgumentException($"{op}: B·H·T·D = {(long)b * h * t * d} elements is more than one launch indexes.");
        return new FlashShape(b * h, t, d, scale);
    }

    /// <summary>fp32 kernels: a group per (b·h, block), as many threads as a block has rows (up to the device's
    /// group size; a multiple of the warp size).</summary>
    KernelConfig BlockGrid(FlashShape shape, in BlockSparsity blocks)
    {
        var launch = _device.Launch;
        int warp = _device.Accelerator.WarpSize;
        int groupSize = Math.Min(launch.GroupSize, (blocks.BlockSize + warp - 1) / warp * warp);
        long items = (long)shape.Heads * blocks.Blocks;
        int groups = (int)Math.Clamp(items, 1, Math.Max(1, (long)launch.Threads / groupSize));
        return (groups, groupSize);
    }

    /// <summary>MMA kernels: a warp per 16-row tile; off CUDA, with the emulation's shared scratch.</summary>
    KernelConfig WarpGrid(FlashShape shape)
    {
        var (groups, groupSize) = _device.Launch.For((long)shape.Heads * ((shape.T + 15) / 16) * _device.Accelerator.WarpSize);
        if (_device.IsCuda) return (groups, groupSize);
        return new KernelConfig(groups, groupSize,
            SharedMemoryConfig.RequestDynamic<uint>(groupSize / 32 * Mma.EmulationWordsPerWarp));
    }

    TDelegate Load<TMask, TDelegate>(string name, Func<Accelerator, TDelegate> load) where TDelegate : Delegate
    {
        if (_loaded.TryGetValue((typeof(TMask), name), out var existing)) return (TDelegate)existing;
        var created = load(_device.Accelerator);
        _loaded[(typeof(TMask), name)] = created;
        return created;
    }
}
