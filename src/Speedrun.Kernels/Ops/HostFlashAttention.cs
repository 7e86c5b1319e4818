using System.Buffers;
using System.Numerics.Tensors;
using ILGPU;
using ILGPU.Runtime;
using Speedrun.Kernels.Blas;

namespace Speedrun.Kernels.Ops;

// Flash attention on the CPU device (its maths: FlashAttention.cs). The block lists are walked in chunks of
// consecutive blocks, so each chunk's products are a few GEMMs of up to 128 × 512 × D on one core (the CPU
// GEMM's micro-kernels, called single-threaded) instead of many 128 × 128 ones, and the softmax runs on whole
// rows with TensorPrimitives. The scores of one chunk are the only buffer (at most 128 × 512 floats a worker).
//
// Forward: one work item per (batch·head, query block), spread over the cores.
// Backward: one work item per batch·head, walking its key blocks; each key block's dk, dv are summed over the
// query chunks that see it, and dq is summed in place (the item owns its head's rows), so nothing is shared
// between workers and the result does not depend on the thread count.

internal static unsafe class HostFlashAttention
{
    /// <summary>Most keys (forward) or queries (backward) in one chunk of consecutive blocks.</summary>
    const int ChunkPositions = 512;

    /// <summary>A run of consecutive blocks of one list walk, each flagged full or partial.</summary>
    readonly struct Chunk(int firstBlock, int blocks, ulong partialBits)
    {
        public readonly int FirstBlock = firstBlock, Blocks = blocks;
        public readonly ulong PartialBits = partialBits; // bit b: block FirstBlock + b is partial
        public bool IsPartial(int b) => (PartialBits >> b & 1) != 0;
    }

    /// <summary>Merges a full and a partial list (both ascending) into chunks of consecutive blocks.</summary>
    static int Chunks(int* full, int fullCount, int* partial, int partialCount, int blockSize, Span<Chunk> chunks)
    {
        int maxBlocks = Math.Max(1, Math.Min(64, ChunkPositions / blockSize));
        int f = 0, p = 0, count = 0, first = -1, length = 0;
        ulong bits = 0;
        while (f < fullCount || p < partialCount)
        {
            bool takePartial = f >= fullCount || (p < partialCount && partial[p] < full[f]);
            int block = takePartial ? partial[p++] : full[f++];
            if (length > 0 && (block != first + length || length == maxBlocks))
            {
                chunks[count++] = new Chunk(first, length, bits);
                length = 0;
                bits = 0;
            }
            if (length == 0) first = block;
            if (takePartial) bits |= 1UL << length;
            length++;
        }
        if (length > 0) chunks[count++] = new Chunk(first, length, bits);
        return count;
    }

    static float* Ptr(ArrayView<float> v) => (float*)v.LoadEffectiveAddressAsPtr<float>();
    static int* Ptr(ArrayView<int> v) => (int*)v.LoadEffectiveAddressAsPtr<int>();

    static void Gemm(in Gemm g, float* a, float* b, float* c) =>
        CpuGemm.Run(g, a, b, c, CpuGemm.BestKernel, threads: 1);

    /// <summary>Sets the masked scores of a chunk's partial blocks to −∞ (rows from query q0, columns from key k0).
    /// The chunk's blocks run along the keys in the forward (a partial block is columns) and along the queries in
    /// the backward (<paramref name="blocksAreRows"/>: a partial block is rows).</summary>
    static void ApplyMask<TMask>(TMask mask, float* s, int q0, int rows, int k0, int keys, in Chunk chunk, int blockSize,
        bool blocksAreRows) where TMask : struct, IMaskMod
    {
        for (int b = 0; b < chunk.Blocks; b++)
        {
            if (!chunk.IsPartial(b)) continue;
            int first = b * blockSize;
            var (r0, r1) = blocksAreRows ? (first, Math.Min(rows, first + blockSize)) : (0, rows);
            var (c0, c1) = blocksAreRows ? (0, keys) : (first, Math.Min(keys, first + blockSize));
            for (int r = r0; r < r1; r++)
            {
                float* row = s + (long)r * keys;
                for (int c = c0; c < c1; c++)
                    if (!mask.Visible(q0 + r, k0 + c)) row[c] = float.NegativeInfinity;
            }
        }
    }

    public static void Forward<TMask>(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, int B, int H, int T, int D,
        float scale, in BlockSparsity blocks, TMask mask, ArrayView<float> y, ArrayView<float> lse)
        where TMask : struct, IMaskMod
    {
        nint pq = (nint)Ptr(q), pk = (nint)Ptr(k), pv = (nint)Ptr(v), py = (nint)Ptr(y), plse = (nint)Ptr(lse);
        nint fullCount = (nint)Ptr(blocks.FullCount), fullIndex = (nint)Ptr(blocks.FullIndex);
        nint partialCount = (nint)Ptr(blocks.PartialCount), partialIndex = (nint)Ptr(blocks.PartialIndex);
        int n = blocks.Blocks, bs = blocks.BlockSize, heads = B * H;
        long items = (long)heads * n;
        Parallel.For(0, (int)items, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount },
            () => ArrayPool<float>.Shared.Rent(bs * ChunkPositions + 2 * bs),
            (item, _, scratch) =>
            {
                int head = item / n, qb = item % n;
                long offset = (long)head * T * D;
                int q0 = qb * bs, rows = Math.Min(bs, T - q0);
                float* Q = (float*)pq + offset + (long)q0 * D, K = (float*)pk + offset, V = (float*)pv + offset;
                float* Y = (float*)py + offset + (long)q0 * D, L = (float*)plse + (long)head * T + q0;
                Span<Chunk> chunks = stackalloc Chunk[2 * n];
                int chunkCount = Chunks((int*)fullIndex + (long)qb * n, ((int*)fullCount)[qb],
                    (int*)partialIndex + (long)qb * n, ((int*)partialCount)[qb], bs, chunks);
                fixed (float* scratchPtr = scratch)
                    ForwardRows(Q, K, V, Y, L, rows, q0, T, D, scale, bs, mask, chunks[..chunkCount], scratchPtr);
                return scratch;
            }, scratch => ArrayPool<float>.Shared.Return(scratch));
    }

    static void ForwardRows<TMask>(float* Q, float* K, float* V, float* Y, float* L, int rows, int q0, int T, int D,
        float scale, int bs, TMask mask, ReadOnlySpan<Chunk> chunks, float* scratch) where TMask : struct, IMaskMod
    {
        float* S = scratch, rowMax = scratch + bs * ChunkPositions, rowSum = rowMax + bs;
        new Span<float>(Y, rows * D).Clear();
        new Span<float>(rowMax, rows).Fill(float.NegativeInfinity);
        new Span<float>(rowSum, rows).Clear();
        foreach (var chunk in chunks)
        {
            int k0 = chunk.FirstBlock * bs, keys = Math.Min(T - k0, chunk.Blocks * bs);
            // S = scale · Q Kᵀ (rows × keys)
            Gemm(new Gemm(false, true, rows, keys, D, D, D, keys, Alpha: scale), Q, K + (long)k0 * D, S);
            if (chunk.PartialBits != 0) ApplyMask(mask, S, q0, rows, k0, keys, chunk, bs, blocksAreRows: false);
            for (int r = 0; r < rows; r++)
            {
                var s = new Span<float>(S + (long)r * keys, keys);
                float max = Math.Max(rowMax[r], TensorPrimitives.Max(s));
                if (float.IsNegativeInfinity(max)) { s.Clear(); continue; } // nothing visible yet
                float correction = MathF.Exp(rowMax[r] - max);
                rowMax[r] = max;
                TensorPrimitives.Subtract(s, max, s);
                TensorPrimitives.Exp(s, s);
                rowSum[r] = rowSum[r] * correction + TensorPrimitives.Sum(s);
                if (correction != 1f)
                {
                    var yRow = new Span<float>(Y + (long)r * D, D);
                    TensorPrimitives.Multiply(yRow, correction, yRow);
                }
            }
            // Y += P V (rows × D)
            Gemm(new Gemm(false, false, rows, D, keys, keys, D, D, Beta: 1f), S, V + (long)k0 * D, Y);
        }
        for (int r = 0; r < rows; r++)
        {
            var yRow = new Span<float>(Y + (long)r * D, D);
            if (rowSum[r] == 0f)
            {
                yRow.Clear();
                L[r] = float.NegativeInfinity;
                continue;
            }
            TensorPrimitives.Multiply(yRow, 1f / rowSum[r], yRow);
            L[r] = rowMax[r] + MathF.Log(rowSum[r]);
        }
    }

    public static void Backward<TMask>(ArrayView<float> dy, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        ArrayView<float> y, ArrayView<float> lse, int B, int H, int T, int D, float scale, in BlockSparsity blocks,
        TMask mask, ArrayView<float> dq, ArrayView<float> dk, ArrayView<float> dv)
        where TMask : struct, IMaskMod
    {
        nint pdy = (nint)Ptr(dy), pq = (nint)Ptr(q), pk = (nint)Ptr(k), pv = (nint)Ptr(v), py = (nint)Ptr(y);
        nint plse = (nint)Ptr(lse), pdq = (nint)Ptr(dq), pdk = (nint)Ptr(dk), pdv = (nint)Ptr(dv);
        nint fullCount = (nint)Ptr(blocks.FullQueryCount), fullIndex = (nint)Ptr(blocks.FullQueryIndex);
        nint partialCount = (nint)Ptr(blocks.PartialQueryCount), partialIndex = (nint)Ptr(blocks.PartialQueryIndex);
        int n = blocks.Blocks, bs = blocks.BlockSize, heads = B * H;
        Parallel.For(0, heads, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount },
            () => ArrayPool<float>.Shared.Rent(2 * ChunkPositions * bs + T),
            (head, _, scratch) =>
            {
                long offset = (long)head * T * D;
                fixed (float* scratchPtr = scratch)
                {
                    var h = new HeadPointers((float*)pdy + offset, (float*)pq + offset, (float*)pk + offset,
                        (float*)pv + offset, (float*)py + offset, (float*)plse + (long)head * T,
                        (float*)pdq + offset, (float*)pdk + offset, (float*)pdv + offset);
                    Span<Chunk> chunks = stackalloc Chunk[2 * n];
                    BackwardHead(h, T, D, scale, bs, n, mask, (int*)fullCount, (int*)fullIndex, (int*)partialCount,
                        (int*)partialIndex, chunks, scratchPtr);
                }
                return scratch;
            }, scratch => ArrayPool<float>.Shared.Return(scratch));
    }

    readonly struct HeadPointers(float* dy, float* q, float* k, float* v, float* y, float* lse, float* dq, float* dk, float* dv)
    {
        public readonly float* Dy = dy, Q = q, K = k, V = v, Y = y, Lse = lse, Dq = dq, Dk = dk, Dv = dv;
    }

    static void BackwardHead<TMask>(in HeadPointers h, int T, int D, float scale, int bs, int n, TMask mask,
        int* fullCount, int* fullIndex, int* partialCount, int* partialIndex, Span<Chunk> chunks, float* scratch)
        where TMask : struct, IMaskMod
    {
        float* P = scratch, dP = scratch + ChunkPositions * bs, delta = dP + ChunkPositions * bs;
        // Δ_i = dy_i · y_i
        for (int i = 0; i < T; i++)
            delta[i] = TensorPrimitives.Dot(new ReadOnlySpan<float>(h.Dy + (long)i * D, D), new ReadOnlySpan<float>(h.Y + (long)i * D, D));
        new Span<float>(h.Dq, T * D).Clear();

        for (int kb = 0; kb < n; kb++)
        {
            int k0 = kb * bs, keys = Math.Min(bs, T - k0);
            float* Kj = h.K + (long)k0 * D, Vj = h.V + (long)k0 * D, dKj = h.Dk + (long)k0 * D, dVj = h.Dv + (long)k0 * D;
            new Span<float>(dKj, keys * D).Clear();
            new Span<float>(dVj, keys * D).Clear();
            int chunkCount = Chunks(fullIndex + (long)kb * n, fullCount[kb], partialIndex + (long)kb * n, partialCount[kb], bs, chunks);
            for (int c = 0; c < chunkCount; c++)
            {
                var chunk = chunks[c];
                int q0 = chunk.FirstBlock * bs, rows = Math.Min(T - q0, chunk.Blocks * bs);
                float* Qc = h.Q + (long)q0 * D, dYc = h.Dy + (long)q0 * D, dQc = h.Dq + (long)q0 * D;
                // P = e^(scale · Q Kᵀ − lse), 0 where hidden (rows × keys)
                Gemm(new Gemm(false, true, rows, keys, D, D, D, keys, Alpha: scale), Qc, Kj, P);
                if (chunk.PartialBits != 0) ApplyMask(mask, P, q0, rows, k0, keys, chunk, bs, blocksAreRows: true);
                for (int r = 0; r < rows; r++)
                {
                    var p = new Span<float>(P + (long)r * keys, keys);
                    float l = h.Lse[q0 + r];
                    if (float.IsNegativeInfinity(l)) { p.Clear(); continue; }
                    TensorPrimitives.Subtract(p, l, p);
                    TensorPrimitives.Exp(p, p);
                }
                // dV_j += Pᵀ dY
                Gemm(new Gemm(true, false, keys, D, rows, keys, D, D, Beta: 1f), P, dYc, dVj);
                // dP = dY V_jᵀ; dS = P ⊙ (dP − Δ), into dP
                Gemm(new Gemm(false, true, rows, keys, D, D, D, keys), dYc, Vj, dP);
                for (int r = 0; r < rows; r++)
                {
                    var dp = new Span<float>(dP + (long)r * keys, keys);
                    TensorPrimitives.Subtract(dp, delta[q0 + r], dp);
                    TensorPrimitives.Multiply(dp, new ReadOnlySpan<float>(P + (long)r * keys, keys), dp);
                }
                // dK_j += scale · dSᵀ Q;  dQ += scale · dS K_j
                Gemm(new Gemm(true, false, keys, D, rows, keys, D, D, Alpha: scale, Beta: 1f), dP, Qc, dKj);
                Gemm(new Gemm(false, false, rows, D, keys, keys, D, D, Alpha: scale, Beta: 1f), dP, Kj, dQc);
            }
        }
    }
}
