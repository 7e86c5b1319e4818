using ILGPU;
using ILGPU.Runtime;

namespace Speedrun.Kernels.Ops;

// Token + position embedding (GPT-2's wte and wpe):
//
//   forward   out[b, t, :] = wte[tokens[b, t], :] + wpe[t, :]
//             tokens: (B, T) int; wte: (V, C); wpe: (Tmax, C) with Tmax ≥ T, or empty for none; out: (B, T, C)
//   backward  dwte[v, :] += Σ_{(b,t): tokens[b,t] = v} dout[b, t, :]      (V, C), accumulated
//             dwpe[t, :] += Σ_b dout[b, t, :]                              (Tmax, C), rows ≥ T untouched
//
// Both backward sums run without atomics and in a fixed order. For dwte the host, which already holds
// the token ids (the data loader reads them on the CPU), groups positions by token with a counting
// sort (stable, so each token's positions stay in increasing order) into an EmbeddingGradPlan; then
// one thread per (distinct token, channel) adds that token's rows in order. Neighbouring threads take
// neighbouring channels, so reads and writes are coalesced.
//
// A token id outside [0, V) on the device cannot be reported from a kernel: the forward writes NaN for
// that row (the loss then turns NaN and the run is reported as diverged); PlanTokenBackward, on the
// host, throws an ArgumentException naming the position and the id.

internal static class EmbeddingKernelMethods
{
    [Kernel]
    internal static void ForwardKernel(ArrayView<int> tokens, ArrayView<float> wte, ArrayView<float> wpe,
        int usePositions, int T, int C, ArrayView<float> output)
    {
        int vocab = wte.IntLength / C;
        int iEnd = output.IntLength, iStride = Threads.Count; // hoisted: each read is a call on the CPU accelerator
        for (int i = Threads.Index; i < iEnd; i += iStride)
        {
            int bt = i / C, c = i - bt * C;
            int token = tokens[bt];
            float v = (uint)token < (uint)vocab ? wte[token * C + c] : float.NaN;
            if (usePositions != 0) v += wpe[(bt % T) * C + c];
            output[i] = v;
        }
    }

    /// <summary>dwte[token, c] += Σ over that token's positions p (in order) of dout[p, c].</summary>
    [Kernel]
    internal static void TokenBackwardKernel(ArrayView<int> uniqueTokens, ArrayView<int> offsets,
        ArrayView<int> positions, ArrayView<float> dOut, int C, ArrayView<float> dWte)
    {
        int work = uniqueTokens.IntLength * C;
        int iEnd = work, iStride = Threads.Count; // hoisted: each read is a call on the CPU accelerator
        for (int i = Threads.Index; i < iEnd; i += iStride)
        {
            int u = i / C, c = i - u * C;
            int end = offsets[u + 1];
            float s = 0f;
            for (int k = offsets[u]; k < end; k++) s += dOut[positions[k] * C + c];
            dWte[uniqueTokens[u] * C + c] += s;
        }
    }

    /// <summary>dwpe[t, c] += Σ_b dout[b, t, c], b in order.</summary>
    [Kernel]
    internal static void PositionBackwardKernel(ArrayView<float> dOut, int B, int T, int C, ArrayView<float> dWpe)
    {
        int work = T * C;
        int iEnd = work, iStride = Threads.Count; // hoisted: each read is a call on the CPU accelerator
        for (int i = Threads.Index; i < iEnd; i += iStride)
        {
            float s = 0f;
            for (int b = 0; b < B; b++) s += dOut[b * work + i];
            dWpe[i] += s;
        }
    }
}

/// <summary>
/// The positions of one batch grouped by token, on the device: distinct tokens in increasing order,
/// offsets into positions (one more than tokens), and the positions of each token in increasing order.
/// Made by <see cref="EmbeddingKernels.PlanTokenBackward"/>; dispose it to return its pooled buffers.
/// </summary>
internal sealed class EmbeddingGradPlan : IDisposable
{
    readonly Runtime.PooledBuffer<int> _uniqueTokens, _offsets, _positions;

    internal EmbeddingGradPlan(Runtime.PooledBuffer<int> uniqueTokens, Runtime.PooledBuffer<int> offsets,
        Runtime.PooledBuffer<int> positions, int distinctTokens, int vocab)
    {
        _uniqueTokens = uniqueTokens;
        _offsets = offsets;
        _positions = positions;
        DistinctTokens = distinctTokens;
        Vocab = vocab;
    }

    public int Vocab { get; }
    public int Positions => (int)_positions.Length;
    public int DistinctTokens { get; }

    internal ArrayView<int> UniqueTokens => _uniqueTokens.View.SubView(0, DistinctTokens);
    internal ArrayView<int> Offsets => _offsets.View.SubView(0, DistinctTokens + 1);
    internal ArrayView<int> PositionsByToken => _positions.View;

    public void Dispose()
    {
        _uniqueTokens.Dispose();
        _offsets.Dispose();
        _positions.Dispose();
    }
}

/// <summary>Loaded embedding kernels for one device; every method checks shapes before launching.</summary>
internal sealed class EmbeddingKernels
{
    readonly Runtime.Device _device;
    readonly Action<KernelConfig, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, int, int, ArrayView<float>>
        _forward;
    readonly Action<KernelConfig, ArrayView<int>, ArrayView<int>, ArrayView<int>, ArrayView<float>, int,
        ArrayView<float>> _tokenBackward;
    readonly Action<KernelConfig, ArrayView<float>, int, int, int, ArrayView<float>> _positionBackward;

    // Host scratch for the counting sort, grown as needed and reused (one plan is built per step).
    int[] _counts = [], _unique = [], _offsets = [], _positions = [];

    public EmbeddingKernels(Runtime.Device device)
    {
        _device = device;
        var acc = device.Accelerator;
        _forward = acc.LoadStreamKernel<ArrayView<int>, ArrayView<float>, ArrayView<float>, int, int, int,
            ArrayView<float>>(EmbeddingKernelMethods.ForwardKernel);
        _tokenBackward = acc.LoadStreamKernel<ArrayView<int>, ArrayView<int>, ArrayView<int>, ArrayView<float>, int,
            ArrayView<float>>(EmbeddingKernelMethods.TokenBackwardKernel);
        _positionBackward = acc.LoadStreamKernel<ArrayView<float>, int, int, int, ArrayView<float>>(
            EmbeddingKernelMethods.PositionBackwardKernel);
    }

    /// <summary>
    /// out[b, t, :] = wte[tokens[b, t], :] + wpe[t, :]. wte holds V rows of C; wpe holds Tmax ≥ T rows of C,
    /// or is empty (length 0) for no position embedding. A token id outside [0, V) yields a NaN row.
    /// </summary>
    public void Forward(ArrayView<int> tokens, ArrayView<float> wte, ArrayView<float> wpe, int B, int T, int C,
        ArrayView<float> output)
    {
        const string op = "Embedding";
        Shapes.Expect(op, tokens, "tokens", ("B", B), ("T", T));
        Shapes.Expect(op, output, "output", ("B", B), ("T", T), ("C", C));
        ExpectRows(op, wte, "wte", "V", 1, C);
        bool usePositions = wpe.Length > 0;
        if (usePositions) ExpectRows(op, wpe, "wpe", "Tmax", T, C);
        // An unused wpe still has to be a valid view for the launch; wte stands in for it.
        _forward(_device.Launch.For(output.Length), tokens, wte, usePositions ? wpe : wte, usePositions ? 1 : 0,
            T, C, output);
    }

    /// <summary>
    /// Groups the batch's positions by token id for <see cref="TokenBackward"/>. Throws if an id is outside
    /// [0, vocab). Allocation-free once warm: host scratch is reused and device buffers come from the pool.
    /// The upload is synchronous (ILGPU's copy from a span waits for the stream), so build the plan once per
    /// batch, before the forward is queued if the host should not wait for the GPU.
    /// </summary>
    public EmbeddingGradPlan PlanTokenBackward(ReadOnlySpan<int> tokens, int vocab)
    {
        const string op = "Embedding.PlanTokenBackward";
        if (vocab <= 0) throw new ArgumentException($"{op}: vocab is {vocab}; it must be positive.");
        int n = tokens.Length;
        if (_counts.Length < vocab) _counts = new int[vocab];
        if (_positions.Length < n) _positions = new int[n];
        var counts = _counts.AsSpan(0, vocab);
        counts.Clear();
        for (int p = 0; p < n; p++)
        {
            int token = tokens[p];
            if ((uint)token >= (uint)vocab)
                throw new ArgumentException(
                    $"{op}: token id {token} at position {p} is outside the vocabulary [0, {vocab}).");
            counts[token]++;
        }

        int distinct = 0;
        foreach (int count in counts) if (count > 0) distinct++;
        if (_unique.Length < distinct) _unique = new int[distinct];
        if (_offsets.Length < distinct + 1) _offsets = new int[distinct + 1];

        // counts[v] becomes the next free slot of token v in the positions array.
        int next = 0, u = 0;
        for (int v = 0; v < vocab; v++)
        {
            int count = counts[v];
            if (count == 0) continue;
            _unique[u] = v;
            _offsets[u++] = next;
            counts[v] = next;
            next += count;
        }
        _offsets[distinct] = next;
        for (int p = 0; p < n; p++) _positions[counts[tokens[p]]++] = p;

        var pool = _device.Pool;
        // Sized by the batch, not by its distinct-token count (which varies step to step), so the pool
        // serves every step's plan from the same buffers.
        var plan = new EmbeddingGradPlan(pool.Rent<int>(n), pool.Rent<int>(n + 1), pool.Rent<int>(n), distinct, vocab);
        plan.UniqueTokens.CopyFromCPU(_device.Stream, new ReadOnlySpan<int>(_unique, 0, distinct));
        plan.Offsets.CopyFromCPU(_device.Stream, new ReadOnlySpan<int>(_offsets, 0, distinct + 1));
        plan.PositionsByToken.CopyFromCPU(_device.Stream, new ReadOnlySpan<int>(_positions, 0, n));
        return plan;
    }

    /// <summary>dWte (V, C) += the gradient of the token lookup, from dOut (plan.Positions, C).</summary>
    public void TokenBackward(EmbeddingGradPlan plan, ArrayView<float> dOut, int C, ArrayView<float> dWte)
    {
        const string op = "Embedding token backward";
        ArgumentNullException.ThrowIfNull(plan);
        Shapes.Expect(op, dOut, "dOut", ("positions", plan.Positions), ("C", C));
        Shapes.Expect(op, dWte, "dWte", ("V", plan.Vocab), ("C", C));
        _tokenBackward(_device.Launch.For((long)plan.DistinctTokens * C), plan.UniqueTokens, plan.Offsets,
            plan.PositionsByToken, dOut, C, dWte);
    }

    /// <summary>dWpe (Tmax ≥ T rows of C) += Σ_b dOut[b, t, :] for t &lt; T.</summary>
    public void PositionBackward(ArrayView<float> dOut, int B, int T, int C, ArrayView<float> dWpe)
    {
        const string op = "Embedding position backward";
        Shapes.Expect(op, dOut, "dOut", ("B", B), ("T", T), ("C", C));
        ExpectRows(op, dWpe, "dWpe", "Tmax", T, C);
        _positionBackward(_device.Launch.For((long)T * C), dOut, B, T, C, dWpe);
    }

    /// <summary>A (rows, C) table with at least <paramref name="minRows"/> rows.</summary>
    static void ExpectRows(string op, ArrayView<float> table, string name, string rowName, int minRows, int C)
    {
        if (C <= 0) throw new ArgumentException($"{op}: C is {C}; it must be positive.");
        if (table.Length % C != 0 || table.Length / C < minRows)
            throw new ArgumentException(
                $"{op}: {name} has {table.Length} elements; it must be ({rowName}, C={C}) with {rowName} ≥ {minRows}.");
        if (table.Length > int.MaxValue)
            throw new ArgumentException($"{op}: {name} exceeds 2^31 elements (32-bit indexing).");
    }
}

internal static class EmbeddingOps
{
    public static EmbeddingKernels Embedding(this Runtime.Device d) => d.Kernels(static d => new EmbeddingKernels(d));
}
