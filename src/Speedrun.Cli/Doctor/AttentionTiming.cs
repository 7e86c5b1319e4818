using ILGPU;
using Speedrun.Core.Autograd;
using Speedrun.Core.Data;
using Speedrun.Kernels.Ops;

namespace Speedrun.Cli.Doctor;

/// <summary>
/// Forward + backward time of our attention on the cases bench/pytorch/attention_bench.py times with PyTorch:
/// <list type="bullet">
/// <item>F.ScaledDotProductAttention(isCausal: true) at T = 1024, B = 64 (65,536 tokens: the per-GPU micro-step of
/// records 3-11), H = 12, D = 64 and H = 6, D = 128;</item>
/// <item>F.FlexAttention on one 65,536-token stream, H = 6, D = 128, under <see cref="DocumentWindowMask"/>
/// (causal, same document, q − k &lt; window) for windows of 1024 and 1792, the block mask built from the elements
/// (BlockMask.Create, as create_block_mask) with documents = running count of end-of-text tokens in the first
/// 65,536 tokens of the shard.</item>
/// </list>
/// Protocol as the script's: warm-up calls, then single calls between the device timer's marks, median reported.
/// q, k, v are leaves that accumulate their gradients (as torch's .grad does), dy is random. Our attention
/// takes fp32 tensors (on CUDA its products run on bf16 tensor cores with fp32 accumulation); torch's bf16 ones. On the CPU device the shapes are small (T = 256, B = 1; a 2,048-token
/// stream with windows 256 and 448) so the section stays quick; those rows never pair with torch's.
/// </summary>
internal static class AttentionTiming
{
    /// <summary>GPT-2's end-of-text token: each one starts a new document (it belongs to the new one).</summary>
    public const int EndOfText = 50256;

    /// <summary>FlexAttention's default block size, used by every mask here and in the torch script.</summary>
    public const int BlockSize = 128;

    /// <summary>One timed shape. <see cref="Window"/> is null for causal SDPA, set for the document/window cases.</summary>
    internal sealed record AttentionCase(string Name, string Mask, int Batch, int Heads, int SeqLen, int HeadDim, int? Window)
    {
        public bool IsFlex => Window is not null;
    }

    /// <summary>The cases of a device: the records' sizes on CUDA, small ones on the CPU. Names match the script's.</summary>
    public static IReadOnlyList<AttentionCase> Cases(bool fullSize)
    {
        int batch = fullSize ? 64 : 1, t = fullSize ? 1024 : 256, stream = fullSize ? 65536 : 2048;
        int[] windows = fullSize ? [1024, 1792] : [256, 448]; // 1792/1024 of the first, as on the GPU
        var cases = new List<AttentionCase>();
        foreach (var (h, d) in new[] { (12, 64), (6, 128) })
            cases.Add(new AttentionCase($"sdpa causal B{batch} H{h} T{t} D{d}", "causal", batch, h, t, d, null));
        foreach (int w in windows)
            cases.Add(new AttentionCase($"flex causal+document+window{w} B1 H6 T{stream} D128", "causal+document+window",
                1, 6, stream, 128, w));
        return cases;
    }

    public static void Run(Device device, string? shardPath, DoctorReport report, TextWriter log)
    {
        bool full = device.IsCuda;
        var cases = Cases(full);
        int stream = cases.Where(c => c.IsFlex).Max(c => c.SeqLen);
        var tokens = StreamTokens(shardPath, stream, out string source);
        var docs = DocumentIds(tokens);
        report.Notes.Add($"attention: documents of the FlexAttention cases from {source}: {docs[^1] - docs[0] + 1} documents " +
                         $"in {stream:N0} tokens; ours computes in {Dtype(device)}, torch's reference takes bf16 tensors" +
                         (full ? "" : "; on the CPU the shapes are small (T=256, B=1; a 2,048-token stream, windows 256 and 448), " +
                                      "not the GPU's, so they have no torch counterpart"));
        log.WriteLine($"  {report.Notes[^1]}");
        int warmup = full ? 3 : 2, timed = full ? 10 : 5;
        foreach (var c in cases)
        {
            var result = TimeCase(device, c, docs, warmup, timed, log);
            report.Attention.Add(result);
            if (result.Error is { } error) report.Errors.Add($"attention {c.Name}: {error}");
            log.WriteLine("  " + Describe(result));
            device.Synchronize();
        }
        device.Pool.Trim();
    }

    /// <summary>The log line of one result.</summary>
    public static string Describe(AttentionTimingResult r) =>
        $"attention {r.Name}: " + (r.Ms is { } ms ? $"{ms:F3} ms fwd+bwd" : "not timed") +
        $", block density {r.Density:F4}" + (r.BlocksDensity is { } bd ? $" (per-block build {bd:F4})" : "") +
        (r.MaskBuildMs is { } mb ? $", mask build {mb:F3} ms" : "") + (r.BlocksBuildMs is { } bb ? $" (per-block {bb:F3} ms)" : "") +
        (r.Error is { } e ? $" -- FAILED: {e}" : "");

    static AttentionTimingResult TimeCase(Device device, AttentionCase c, int[] docIds, int warmup, int timed, TextWriter log)
    {
        using var scope = new TensorScope();
        int? documents = null;
        double density = double.NaN;
        double? blocksDensity = null, buildMs = null, blocksBuildMs = null;
        try
        {
            // The mask first: its density is worth reporting even when the attention itself fails.
            Func<Tensor, Tensor, Tensor, Tensor> attend;
            if (c.IsFlex)
            {
                var docs = docIds.AsSpan(0, c.SeqLen).ToArray();
                documents = docs[^1] - docs[0] + 1;
                var masks = DocumentWindowMasks.Build(device, docs, c.Window!.Value);
                var mask = BlockMask.Create(device, masks.Elements, c.SeqLen, BlockSize);
                var byBlocks = BlockMask.FromBlocks(device, masks.Elements, masks.Blocks, c.SeqLen, BlockSize);
                density = mask.Density();
                blocksDensity = byBlocks.Density();
                if (CompareKinds(mask.Kinds(), byBlocks.Kinds()) is { } disagreement)
                    throw new InvalidOperationException($"the per-block mask disagrees with the element mask: {disagreement}");
                buildMs = MedianMs(device, () =>
                {
                    using var s = new TensorScope();
                    BlockMask.Create(device, masks.Elements, c.SeqLen, BlockSize);
                }, 1, 5, out _);
                blocksBuildMs = MedianMs(device, () =>
                {
                    using var s = new TensorScope();
                    BlockMask.FromBlocks(device, masks.Elements, masks.Blocks, c.SeqLen, BlockSize);
                }, 1, 5, out _);
                attend = (q, k, v) => F.FlexAttention(q, k, v, mask);
            }
            else
            {
                density = BlockMask.Causal(device, c.SeqLen, BlockSize).Density();
                attend = (q, k, v) => F.ScaledDotProductAttention(q, k, v, isCausal: true);
            }

            int[] shape = [c.Batch, c.Heads, c.SeqLen, c.HeadDim];
            var host = new float[(long)c.Batch * c.Heads * c.SeqLen * c.HeadDim];
            Tensor Random(int seed, bool leaf)
            {
                var rng = new Random(seed);
                for (int i = 0; i < host.Length; i++) host[i] = rng.NextSingle() * 2f - 1f;
                var t = Tensor.FromArray(device, host, shape);
                if (leaf) t.RequiresGrad = true;
                return t;
            }
            var (q, k, v, dy) = (Random(1, true), Random(2, true), Random(3, true), Random(4, false));
            double ms = MedianMs(device, () =>
            {
                using var step = new TensorScope();
                var y = attend(q, k, v);
                y.Backward(dy);
            }, warmup, timed, out _);
            return new AttentionTimingResult(c.Name, c.Mask, c.Batch, c.Heads, c.SeqLen, c.HeadDim, c.Window, documents,
                BlockSize, density, blocksDensity, buildMs, blocksBuildMs, ms, Dtype(device));
        }
        catch (Exception e)
        {
            log.WriteLine($"  attention {c.Name} FAILED: {e}");
            try { device.Synchronize(); } catch { /* the failure is already reported */ }
            return new AttentionTimingResult(c.Name, c.Mask, c.Batch, c.Heads, c.SeqLen, c.HeadDim, c.Window, documents,
                BlockSize, density, blocksDensity, buildMs, blocksBuildMs, null, Dtype(device), $"{e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>What our attention computes in on this device: fp32 on the CPU; fp32 tensors with bf16 tensor-core
    /// products (the engine's default flash path) on CUDA.</summary>
    static string Dtype(Device device) => device.IsCuda ? "fp32 tensors, bf16 MMA" : "fp32";

    /// <summary>Median device milliseconds of <paramref name="timed"/> calls, each between the timer's marks.</summary>
    static double MedianMs(Device device, Action call, int warmup, int timed, out List<double> all)
    {
        for (int i = 0; i < warmup; i++) call();
        using var timer = device.CreateTimer();
        all = new List<double>(timed);
        for (int i = 0; i < timed; i++)
        {
            timer.Start();
            call();
            all.Add(timer.StopMilliseconds());
        }
        var sorted = all.Order().ToList();
        return sorted[sorted.Count / 2];
    }

    /// <summary>
    /// The first <paramref name="count"/> tokens of the shard (repeated if it is shorter), or, without a shard,
    /// a synthetic stream of documents 1-1400 tokens long (seeded) whose only meaningful tokens are the separators.
    /// </summary>
    internal static int[] StreamTokens(string? shardPath, int count, out string source)
    {
        var result = new int[count];
        if (shardPath is not null && File.Exists(shardPath))
        {
            using var shard = ShardFile.Open(shardPath);
            var src = shard.Tokens;
            if (src.Length > 0)
            {
                for (int i = 0; i < count; i++) result[i] = src[i % src.Length];
                source = $"the first {count:N0} tokens of {shardPath}" + (src.Length < count ? " (repeated: the shard is shorter)" : "");
                return result;
            }
        }
        var rng = new Random(7);
        int next = rng.Next(1, 1401);
        for (int i = 0; i < count; i++)
        {
            if (i == next) { result[i] = EndOfText; next = i + rng.Next(1, 1401); }
            else result[i] = rng.Next(EndOfText);
        }
        source = shardPath is null ? "a synthetic stream (no --shard)" : $"a synthetic stream ({shardPath} is missing or empty)";
        return result;
    }

    /// <summary>docs[i] = end-of-text tokens among tokens[0..i], i included (the records' cumsum(tokens == 50256)).</summary>
    internal static int[] DocumentIds(ReadOnlySpan<int> tokens)
    {
        var docs = new int[tokens.Length];
        int count = 0;
        for (int i = 0; i < tokens.Length; i++)
        {
            if (tokens[i] == EndOfText) count++;
            docs[i] = count;
        }
        return docs;
    }

    /// <summary>Null when every pair the per-block build marks Full or Empty has that kind by its elements (a
    /// per-block build may only be less precise: Partial where the elements say Full or Empty); else the first
    /// pair that breaks it.</summary>
    internal static string? CompareKinds(BlockKind[,] fromElements, BlockKind[,] fromBlocks)
    {
        for (int i = 0; i < fromElements.GetLength(0); i++)
            for (int j = 0; j < fromElements.GetLength(1); j++)
                if (fromBlocks[i, j] != BlockKind.Partial && fromBlocks[i, j] != fromElements[i, j])
                    return $"pair ({i}, {j}) is {fromBlocks[i, j]} per block but {fromElements[i, j]} by its elements";
        return null;
    }
}

/// <summary>
/// A query sees a key when the key is not later (causal), lies in the same document, and is fewer than
/// <see cref="Window"/> positions back: record 12's mask (FlexAttention's mask_mod), with the document ids as a
/// device view so the window and the documents change without recompiling a kernel.
/// </summary>
public readonly struct DocumentWindowMask : IMaskMod
{
    readonly ArrayView<int> _docs;

    /// <summary>The most positions a query looks back, itself included (q − k &lt; Window).</summary>
    public readonly int Window;

    public DocumentWindowMask(ArrayView<int> docs, int window)
    {
        _docs = docs;
        Window = window;
    }

    /// <inheritdoc/>
    public bool Visible(int query, int key) => key <= query && query - key < Window && _docs[query] == _docs[key];
}

/// <summary>
/// The block-level form of <see cref="DocumentWindowMask"/>, from each block's first and last document id (ids
/// never decrease along the stream), as records from 15 on build their masks: a key block after the query
/// block, wholly outside the window, or in earlier documents only is Empty; a key block before the query block,
/// wholly inside the window, with both blocks in one document is Full; the rest is Partial.
/// </summary>
public readonly struct DocumentWindowBlocks : IBlockMaskMod
{
    readonly ArrayView<int> _firstDoc, _lastDoc;
    readonly int _window, _length;

    public DocumentWindowBlocks(ArrayView<int> firstDoc, ArrayView<int> lastDoc, int window, int length)
    {
        _firstDoc = firstDoc;
        _lastDoc = lastDoc;
        _window = window;
        _length = length;
    }

    /// <inheritdoc/>
    public BlockKind Kind(int queryBlock, int keyBlock, int blockSize)
    {
        if (keyBlock > queryBlock) return BlockKind.Empty;
        int q0 = queryBlock * blockSize, q1 = Math.Min(_length, q0 + blockSize) - 1;
        int k0 = keyBlock * blockSize, k1 = Math.Min(_length, k0 + blockSize) - 1;
        if (q0 - k1 >= _window) return BlockKind.Empty;
        if (_lastDoc[keyBlock] < _firstDoc[queryBlock]) return BlockKind.Empty;
        bool oneDocument = _firstDoc[keyBlock] == _lastDoc[queryBlock];
        return keyBlock < queryBlock && oneDocument && q1 - k0 < _window ? BlockKind.Full : BlockKind.Partial;
    }
}

/// <summary>Both forms of the document/window mask over one stream, with their device buffers (tensors of the
/// current scope).</summary>
internal sealed record DocumentWindowMasks(DocumentWindowMask Elements, DocumentWindowBlocks Blocks)
{
    public static DocumentWindowMasks Build(Device device, int[] docs, int window, int blockSize = AttentionTiming.BlockSize)
    {
        int n = (docs.Length + blockSize - 1) / blockSize;
        var first = new int[n];
        var last = new int[n];
        for (int b = 0; b < n; b++)
        {
            first[b] = docs[b * blockSize];
            last[b] = docs[Math.Min(docs.Length, (b + 1) * blockSize) - 1];
        }
        var ids = Tensor.FromArray(device, docs, docs.Length);
        var firstT = Tensor.FromArray(device, first, n);
        var lastT = Tensor.FromArray(device, last, n);
        return new DocumentWindowMasks(new DocumentWindowMask(ids.I32, window),
            new DocumentWindowBlocks(firstT.I32, lastT.I32, window, docs.Length));
    }
}

/// <summary>One attention case as reported: ms is the median forward + backward (null when it failed); density
/// is the fraction of (query block, key block) pairs computed, from the element-built mask; blocks_density the
/// same from the per-block build; mask build times are device-timed medians of 5.</summary>
internal sealed record AttentionTimingResult(string Name, string Mask, int Batch, int Heads, int SeqLen, int HeadDim,
    int? Window, int? Documents, int BlockSize, double Density, double? BlocksDensity, double? MaskBuildMs,
    double? BlocksBuildMs, double? Ms, string Dtype, string? Error = null);
