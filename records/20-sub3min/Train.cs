// Record 20 of the NanoGPT speedrun (2025-01-16, modded-nanogpt records/2025-01-16_Sub3Min): record 19 with q, k and
// v merged into one (3, 768, 768) parameter, U(±√3·0.5/√768), applied as one GEMM with the (2304, 768) weight, and
// orthogonalised by Muon as three slices at once (a batched Newton-Schulz: per-slice norms, strided-batched GEMMs);
// attention scale 0.12 (was 1/√128); long and short windows: the short one half the long (in blocks), encoder layers
// long, short, short, short, long, short and the decoder the reverse; Adam's eps 1e-10. 1,393 steps. (bf16 is emulated
// as in record 10; FP8 is exact on the CPU, see docs/fp8.md.)
// One self-contained program: hyperparameters, model, optimizer, loop. The run context supplies data,
// device, timing and logging (see Speedrun.Core.Training.RunContext); everything else may change.
using System.Numerics;
using Speedrun.Core.Autograd;
using Speedrun.Core.Training;
using Speedrun.Core.Training.Modules;
using Speedrun.Core.Training.Optimizers;
using ILGPU;
using ILGPU.Runtime;
using Speedrun.Kernels.Numerics;
using Speedrun.Kernels.Ops;

using var ctx = RunContext.FromEnvironment();
var hp = Hyperparameters.ForTrack(ctx.Track);
ctx.LogConfig(hp);

// bf16 products on every device: the record casts weights and activations itself (no autocast).
var precision = MatmulPrecision.BF16;
var rng = new Random(ctx.Seed);
using var model = new Gpt(ctx.Device, hp, rng);
ctx.Log($"parameters: {model.ParameterCount():N0}");
// One Adam (no weight decay) for the embeddings (token and value), the head and the scalars, each group at its own rate.
using var adam = new AdamW(
    new AdamW.Group(model.Embeddings(), hp.EmbeddingLearningRate, hp.AdamBeta1, 0.95f, hp.AdamEps, weightDecay: 0f),
    new AdamW.Group([model.Head], hp.HeadLearningRate, hp.AdamBeta1, 0.95f, hp.AdamEps, weightDecay: 0f),
    new AdamW.Group(model.BlockScalars(), hp.ScalarLearningRate, hp.AdamBeta1, 0.95f, hp.AdamEps, weightDecay: 0f));
using var muon = new Muon(model.BlockMatrices(), hp.MuonLearningRate, hp.MuonMomentum, rank: 0, worldSize: 1);

// -----------------------------------------------------------------------------------------------------
// Training loop: validate every ValEvery steps and at the end; each step adds up the gradients of Accumulation
// micro-batches (the step's tokens cut into 64K streams), then one step of each optimizer, both at the scheduled
// fraction of their learning rate. The attention window follows the step, validation included.
for (int step = 0; step <= hp.Steps; step++)
{
    bool last = step == hp.Steps;
    model.AttentionWindowBlocks = hp.AttentionWindowBlocksAt(step);
    if (last || (step > 10 && step % hp.ValEvery == 0))
    {
        model.Training = false; // the record's model.eval(): the plain bf16 head
        ctx.Validate(step, hp.Steps, hp.MicroBatch, hp.ValSequenceLength, (x, y) =>
        {
            using (Autocast.Use(precision)) return model.Loss(x, y);
        });
        model.Training = true;
    }
    if (last) break;

    ctx.StepStarting(step);
    model.ZeroGrad();
    for (int micro = 0; micro < hp.Accumulation; micro++)
    {
        using var scope = new TensorScope();
        var (x, y) = ctx.NextTrainBatch(micro, hp.Accumulation, hp.MicroBatch, hp.SequenceLength);
        Tensor loss;
        using (Autocast.Use(precision))
            loss = model.Loss(x, y);
        loss.Backward(); // summed over micro-batches, as the record's loop sums them on each GPU
        ctx.AddTrainLoss(loss, 1f / hp.Accumulation);
    }
    float lrScale = hp.LearningRateScale(step);
    foreach (var group in adam.Groups) group.Lr = group.InitialLr * lrScale;
    muon.Lr = muon.InitialLr * lrScale;
    muon.Momentum = hp.MuonMomentumAt(step);
    adam.Step();
    muon.Step();
    model.RoundBf16Parameters();
    ctx.StepFinished(step, hp.Steps);
}
ctx.SaveModel(model); // the harness times this process until it ends, then scores the saved model

// -----------------------------------------------------------------------------------------------------
// Hyperparameters: the record's own values (8 GPUs x 1 stream x 65,536 tokens, 1,393 steps), scaled by the
// track for smaller machines.
sealed record Hyperparameters
{
    public int Layers { get; init; } = 12;
    public int Dim { get; init; } = 768;
    public int HeadDim { get; init; } = 128;
    /// <summary>GPT-2's 50,257 tokens: the rows of the token and value embeddings.</summary>
    public int Vocab { get; init; } = 50257;
    /// <summary>The value-embedding tables: the first this many layers use tables 0, 1, ..., and so do the last this
    /// many; the layers between have none.</summary>
    public int ValueEmbeddingTables { get; init; } = 3;
    /// <summary>The block without attention (the 8th).</summary>
    public int LayerWithoutAttention { get; init; } = 7;
    /// <summary>The rotary frequencies run from 1 down to 1/RotaryBase over the first quarter of a head's dims.</summary>
    public float RotaryBase { get; init; } = 1024f;
    /// <summary>One stream of this many tokens per micro-step; documents run through it back to back.</summary>
    public int SequenceLength { get; init; } = 64 * 1024;
    /// <summary>Streams per optimizer step over all (virtual) GPUs: 8 x 1.</summary>
    public int SequencesPerStep { get; init; } = 8;
    /// <summary>Streams per forward/backward pass on this device.</summary>
    public int MicroBatch { get; init; } = 1;
    /// <summary>The window, in tokens, at the end of training; a query sees the key blocks fewer than this many
    /// tokens, rounded to whole blocks, back (AttentionWindowBlocksAt).</summary>
    public int AttentionWindow { get; init; } = 1792;
    /// <summary>The window grows from this many tokens, in steps of this many.</summary>
    public int WindowGranule { get; init; } = 64;
    /// <summary>Positions per block of the attention's block mask.</summary>
    public int BlockSize { get; init; } = 128;
    /// <summary>GPT-2's end-of-text token, which starts every document of the stream.</summary>
    public int EndOfTextToken { get; init; } = 50256;
    /// <summary>The stream evaluated at validation: the record's (64K), shortened to the track's validation tokens
    /// where there are fewer (the tiny track has 16,384), since the tokens must divide into whole streams.</summary>
    public int ValSequenceLength { get; init; } = 64 * 1024;
    /// <summary>Not the record's: rows of the head taken at a time, so that no (64K x 50,304) logits ever exist (the
    /// loss recomputes each chunk in backward; the evaluation gets the logits in pieces of this many positions).</summary>
    public int LossChunkRows { get; init; } = 1024;
    public int Steps { get; init; } = 1393;
    /// <summary>The learning rate falls over this last fraction of training...</summary>
    public float CooldownFraction { get; init; } = 0.4f;
    /// <summary>... to this fraction of its peak.</summary>
    public float LearningRateFloor { get; init; } = 0.1f;
    /// <summary>The FP8 head's scales: x·2 and W·32 to e4m3, the output gradient·2^29 to e5m2 (see Fp8Head). The
    /// gradient scale is the record's for its 64K stream: the loss is a mean over the stream, so the gradient reaching
    /// the head shrinks as the stream grows, and ForTrack scales this with the stream length to keep the product where
    /// the record put it (at a 2,048-token stream the record's scale would saturate e5m2 at its largest value, 57,344).</summary>
    public float Fp8XScale { get; init; } = 2f;
    public float Fp8WScale { get; init; } = 32f;
    public float Fp8GradScale { get; init; } = MathF.Pow(2, 29);
    /// <summary>Every Linear starts U(±√3·s), s = InitScale/√fan_in (std s), before the output projections and the
    /// head are zeroed.</summary>
    public float InitScale { get; init; } = 0.5f;
    /// <summary>Muon's momentum goes from 0.85 to MuonMomentum over these first steps.</summary>
    public int MomentumWarmupSteps { get; init; } = 300;
    /// <summary>Adam's β1 for the embedding, the head and the scalars (β2 stays 0.95).</summary>
    public float AdamBeta1 { get; init; } = 0.8f;
    /// <summary>Adam's ε.</summary>
    public float AdamEps { get; init; } = 1e-10f;
    /// <summary>Attention's softmax scale (not 1/√HeadDim).</summary>
    public float AttentionScale { get; init; } = 0.12f;
    /// <summary>The encoder layers' windows, L(ong) or S(hort, half the long one in blocks); the decoder's are the
    /// reverse.</summary>
    public string EncoderWindows { get; init; } = "LSSSLS";
    /// <summary>Adam's rate for the learned scalars (the λs).</summary>
    public float ScalarLearningRate { get; init; } = 0.04f;
    public float EmbeddingLearningRate { get; init; } = 0.6f;
    public float HeadLearningRate { get; init; } = 0.008f;
    /// <summary>Muon's rate for the block matrices (times each matrix's scale).</summary>
    public float MuonLearningRate { get; init; } = 0.05f;
    public float MuonMomentum { get; init; } = 0.95f;
    public int ValEvery { get; init; } = 128;

    public int Heads => Dim / HeadDim;
    /// <summary>The head's rows: the vocabulary padded to a multiple of 128.</summary>
    public int HeadRows => (Vocab + 127) / 128 * 128;
    public int Accumulation => SequencesPerStep / MicroBatch;

    /// <summary>The record's own values scaled by the track: width, tokens per step (streams, or a shorter stream
    /// where the track's tokens do not fill one, see Track.Streams) and step counts (the window's
    /// schedule follows the scaled step count); depth, head size, windows and block size stay the
    /// record's.</summary>
    public static Hyperparameters ForTrack(Track track)
    {
        var hp = new Hyperparameters();
        var (streams, streamLength) = track.Streams(hp.SequencesPerStep, hp.SequenceLength, hp.BlockSize);
        hp = hp with
        {
            Dim = track.Dim(hp.Dim),
            SequencesPerStep = streams,
            SequenceLength = streamLength,
            Fp8GradScale = hp.Fp8GradScale * streamLength / hp.SequenceLength,
            MicroBatch = Math.Min(hp.MicroBatch, streams),
            Steps = track.Steps(hp.Steps),
            MomentumWarmupSteps = track.Steps(hp.MomentumWarmupSteps),
            ValEvery = track.ValEvery,
            ValSequenceLength = (int)Math.Min(hp.SequenceLength, track.ValTokens),
        };
        if (hp.SequencesPerStep % hp.MicroBatch != 0)
            throw new InvalidOperationException($"{hp.SequencesPerStep} sequences per step is not a multiple of the micro-batch {hp.MicroBatch}.");
        if (hp.Dim % hp.HeadDim != 0)
            throw new InvalidOperationException($"The width {hp.Dim} is not a multiple of the head size {hp.HeadDim}.");
        return hp;
    }

    /// <summary>w + (1 − w)·LearningRateFloor with w = min((1 − step/Steps) / CooldownFraction, 1): 1 until the last
    /// CooldownFraction of training, then linear down to the floor.</summary>
    public float LearningRateScale(int step)
    {
        float w = Math.Min((1f - (float)step / Steps) / CooldownFraction, 1f);
        return w + (1f - w) * LearningRateFloor;
    }

    /// <summary>The window at a step, in blocks: (AttentionWindow − WindowGranule)·step/Steps tokens (0 → 1728) rounded
    /// up to a whole number of blocks, at least one: the record's next_multiple_of_n(1728·step/N, 128) tokens,
    /// 1 → 14 blocks.</summary>
    public int AttentionWindowBlocksAt(int step)
    {
        double tokens = (double)(AttentionWindow - WindowGranule) * step / Steps;
        return Math.Max(1, (int)Math.Ceiling(tokens / BlockSize));
    }

    /// <summary>Muon's momentum: linear from 0.85 to MuonMomentum over MomentumWarmupSteps, then constant.</summary>
    public float MuonMomentumAt(int step)
    {
        float frac = Math.Min((float)step / MomentumWarmupSteps, 1f);
        return (1 - frac) * 0.85f + frac * MuonMomentum;
    }
}

// -----------------------------------------------------------------------------------------------------
// The model: pre-norm weightless RMSNorm (PyTorch's default epsilon), also right after the embedding (x0);
// every block mixes in x0 with learned scalars, and the first and last three a value embedding into their values;
// QK-norm and (half-truncated) rotary on q and k, a ReLU² MLP, zero-initialised output projections, no attention in
// one block; an embedding (N(0, 1), 50,257 rows) and a separate, zero-initialised head of 50,304 rows; offset
// logits 30·σ(z/7.5); U-net skips from the encoder half to the decoder half.
// Attention is FlexAttention over the whole stream under a causal, same-document, block-window block mask.
// Activations and the embedding tables are bf16 (Bf16 marks each rounding); the Linear weights and the scalars are
// fp32.
sealed class Gpt : Module, ILanguageModel<Gpt>
{
    readonly Hyperparameters _hp;
    readonly Tensor _wte, _lmHead, _skipWeights;
    readonly Tensor[] _valueEmbeddings;
    readonly List<Block> _blocks = new();
    readonly int _encoderLayers, _decoderLayers;

    public Gpt(Device device, Hyperparameters hp, Random rng) : base(device)
    {
        _hp = hp;
        AttentionWindowBlocks = hp.AttentionWindowBlocksAt(hp.Steps);
        _wte = Parameter("wte.weight", Bf16Values(Init.Normal(rng, (long)hp.Vocab * hp.Dim, 1.0)), hp.Vocab, hp.Dim);
        _encoderLayers = hp.Layers / 2;
        _decoderLayers = hp.Layers - _encoderLayers;
        _valueEmbeddings = Enumerable.Range(0, hp.ValueEmbeddingTables)
            .Select(i => Parameter($"ve.{i}.weight", Bf16Values(Init.Normal(rng, (long)hp.Vocab * hp.Dim, 1.0)), hp.Vocab, hp.Dim))
            .ToArray();
        var rotary = new RotaryTables(device, Math.Max(hp.SequenceLength, hp.ValSequenceLength), hp.HeadDim, hp.RotaryBase);
        for (int i = 0; i < hp.Layers; i++) _blocks.Add(Child($"h.{i}", new Block(device, hp, rotary, rng, attention: i != hp.LayerWithoutAttention)));
        _lmHead = Parameter("lm_head.weight", Init.Zeros((long)hp.HeadRows * hp.Dim), hp.HeadRows, hp.Dim);
        _skipWeights = Parameter("skip_weights", Enumerable.Repeat(1f, _decoderLayers).ToArray(), _decoderLayers);
    }

    /// <summary>How many blocks back (the query's own included) a query block sees under the long window (the loop sets
    /// it every step; the harness's evaluation uses the final window); the short window is half of it.</summary>
    public int AttentionWindowBlocks { get; set; }

    /// <summary>The token and value embeddings (Adam, one group).</summary>
    public IReadOnlyList<Tensor> Embeddings() => [_wte, .. _valueEmbeddings];

    /// <summary>The output head (Adam).</summary>
    public Tensor Head => _lmHead;

    /// <summary>What Muon trains: every matrix of the blocks, and the merged q/k/v (3 matrices in one).</summary>
    public IReadOnlyList<Tensor> BlockMatrices() => _blocks.SelectMany(b => b.Parameters()).Where(p => p.Rank >= 2).ToList();

    /// <summary>What Adam's scalar group trains: the blocks' learned scalars and the skip weights.</summary>
    public IReadOnlyList<Tensor> BlockScalars() =>
        _blocks.SelectMany(b => b.Parameters()).Where(p => p.Rank < 2).Append(_skipWeights).ToList();

    /// <summary>After an update, rounds the parameters the record keeps in bf16: the embedding tables.</summary>
    public void RoundBf16Parameters()
    {
        using var noGrad = GradMode.NoGrad();
        using var scope = new TensorScope();
        foreach (var p in Embeddings()) p.Copy_(Bf16(p));
    }

    static float[] Bf16Values(float[] values) => values.Select(v => BFloat16.FromFloat(v).ToFloat()).ToArray();

    /// <summary>A bf16 tensor in this fp32 engine: the values rounded to the nearest bf16.</summary>
    public static Tensor Bf16(Tensor x) => F.RoundToBf16(x);

    /// <summary>The harness's evaluation builds the model with this, then loads the trained weights into it.</summary>
    public static Gpt Create(Track track, Device device) => new(device, Hyperparameters.ForTrack(track), new Random(0));

    /// <summary>The harness evaluates streams of the validation length (the record's 64K where the track has that many
    /// validation tokens).</summary>
    public int ContextLength => _hp.ValSequenceLength;

    /// <summary>Next-token logits of a (B, T) batch, (B, T, 50304); the harness scores the vocabulary's 50257 columns.</summary>
    public Tensor Logits(Tensor inputs) => HeadLogits(Body(inputs), fp8: false).View(inputs.Dim(0), inputs.Dim(1), _hp.HeadRows);

    /// <summary>The same logits, LossChunkRows positions at a time: the body runs once, the head on slices of it.</summary>
    public IEnumerable<Tensor> LogitsInPieces(Tensor inputs)
    {
        var x = Body(inputs);
        for (int start = 0; start < x.Dim(0); start += _hp.LossChunkRows)
        {
            using var scope = new TensorScope(); // a piece's intermediates go when the next one is asked for
            yield return HeadLogits(x.Narrow(0, start, Math.Min(_hp.LossChunkRows, x.Dim(0) - start)), fp8: false);
        }
    }

    /// <summary>Whether the loss takes the FP8 head (training, the default, as a torch module starts) or the bf16 one (the
    /// record's eval mode, which the loop sets around validation).</summary>
    public bool Training { get; set; } = true;

    /// <summary>Mean next-token cross-entropy of a (B, T) batch, over every position.</summary>
    public Tensor Loss(Tensor inputs, Tensor targets)
    {
        var x = Body(inputs);
        int rows = x.Dim(0);
        var flatTargets = targets.View(rows);
        // Not the record's idea: our engine's memory. The head and loss go chunk by chunk, each recomputed in backward
        // (F.Checkpoint), so that one chunk's logits exist at a time; the chunks' means, weighted by size, are the mean.
        Tensor? loss = null;
        for (int start = 0; start < rows; start += _hp.LossChunkRows)
        {
            int n = Math.Min(_hp.LossChunkRows, rows - start);
            var chunkTargets = flatTargets.Narrow(0, start, n);
            var chunk = F.Checkpoint(h => F.CrossEntropy(HeadLogits(h[0], fp8: Training), chunkTargets) * ((float)n / rows),
                x.Narrow(0, start, n));
            loss = loss is null ? chunk : loss + chunk;
        }
        return loss!;
    }

    /// <summary>The final normed hidden states of a (B, T) batch, (B·T, Dim): everything but the head. The attention
    /// mask comes from the tokens: document ids are the running count of end-of-text tokens, on the device; the block
    /// pairs, full or partial, are chosen from the blocks' document ranges and the window in blocks
    /// (DocumentWindowBlocks), for the long window and for the short one; each layer takes one.</summary>
    Tensor Body(Tensor inputs)
    {
        int b = inputs.Dim(0), t = inputs.Dim(1);
        if (t % _hp.BlockSize != 0)
            throw new ArgumentException($"A stream of {t} tokens is not a whole number of {_hp.BlockSize}-token blocks.");
        var documents = F.CumSum(F.Eq(inputs, _hp.EndOfTextToken));
        BlockMask<DocumentMask> Mask(int windowBlocks) => BlockMask.FromBlocks(Device, new DocumentMask(documents.I32, t),
            new DocumentWindowBlocks(documents.I32, windowBlocks, t / _hp.BlockSize), b * t, _hp.BlockSize);
        var (longMask, shortMask) = (Mask(AttentionWindowBlocks), Mask(AttentionWindowBlocks / 2));
        var windows = _hp.EncoderWindows + new string(_hp.EncoderWindows.Reverse().ToArray());
        if (windows.Length != _hp.Layers)
            throw new InvalidOperationException($"EncoderWindows \"{_hp.EncoderWindows}\" must name one window per encoder layer ({_encoderLayers}).");
        BlockMask<DocumentMask> MaskOf(int layer) => windows[layer] == 'L' ? longMask : shortMask;
        var x = Bf16(F.RmsNorm(F.Embedding(inputs, _wte)));
        var x0 = x;
        var ve = _valueEmbeddings.Select(table => F.Embedding(inputs, table)).ToArray(); // (B, T, Dim) each
        var skips = new Stack<Tensor>();
        // Not the record's idea: our engine's memory. Every block runs under F.Checkpoint, its activations recomputed
        // in backward, so that a 64K stream's fit (measured at width 128, T 8192 in record 12: 825 → 172 KB a token,
        // the same loss and gradients bit for bit, the step ~10% slower).
        for (int i = 0; i < _encoderLayers; i++)
        {
            x = Checkpointed(_blocks[i], x, ValueEmbedding(ve, i), x0, MaskOf(i));
            skips.Push(x);
        }
        for (int i = 0; i < _decoderLayers; i++)
        {
            var weightedSkip = _skipWeights.Narrow(0, i, 1) * skips.Pop();
            int layer = _encoderLayers + i;
            x = Checkpointed(_blocks[layer], Bf16(x + weightedSkip), ValueEmbedding(ve, layer), x0, MaskOf(layer)); // one fused chain, one rounding
        }
        return Bf16(F.RmsNorm(x)).View(b * t, _hp.Dim);
    }

    /// <summary>The value embedding of a layer: tables 0, 1, 2 for the first three layers and again for the last three;
    /// none (null) between.</summary>
    Tensor? ValueEmbedding(Tensor[] ve, int layer) =>
        layer < ve.Length ? ve[layer] : layer >= _hp.Layers - ve.Length ? ve[layer - (_hp.Layers - ve.Length)] : null;

    /// <summary>A block, recomputed in backward.</summary>
    static Tensor Checkpointed(Block block, Tensor x, Tensor? ve, Tensor x0, BlockMask<DocumentMask> mask) => ve is null
        ? F.Checkpoint(h => block.Forward(h[0], null, h[1], mask), x, x0)
        : F.Checkpoint(h => block.Forward(h[0], h[1], h[2], mask), x, ve, x0);

    /// <summary>Logits of hidden states (rows, Dim): the head (FP8 when <paramref name="fp8"/>) and the offset cap,
    /// (rows, 50304).</summary>
    Tensor HeadLogits(Tensor x, bool fp8)
    {
        var z = fp8 ? new Fp8Head(_hp.Fp8XScale, _hp.Fp8WScale, _hp.Fp8GradScale).Apply(x, _lmHead) : Bf16(F.Linear(x, _lmHead));
        return F.Unary<OffsetLogits>(z); // in fp32; the training loss's softmax spans all 50,304 columns
    }
}

/// <summary>
/// Record 20's attention mask (FlexAttention's mask_mod): query q sees key k when k is not later and in the same
/// document; the window is the block mask's. A batch of B streams is attended as one of B·T positions, so keys of
/// another row (another stream) are hidden too; training and the harness send one stream.
/// </summary>
readonly struct DocumentMask(ArrayView<int> documents, int rowLength) : IMaskMod
{
    public bool Visible(int q, int k) => k <= q && documents[q] == documents[k] && q / rowLength == k / rowLength;
}

/// <summary>
/// Record 20's block mask, built by hand from blocks: the pair (query block, key block) is kept when the key block is
/// not later, fewer than <c>windowBlocks</c> blocks back (at least the diagonal), and the two blocks' document ranges
/// overlap (a block's range runs from its first token's document to its last's, since ids only grow). A kept pair is
/// full when the key block is strictly earlier and both blocks lie wholly in one and the same document, partial
/// otherwise (the diagonal, and pairs across a document boundary). Rows of a batch are separate streams of
/// <c>rowBlocks</c> blocks. The record builds this by clamping counts of its window-less lists, sorted most recent
/// first: at most w − 1 full pairs and max(w − full, 1) partial ones for a window of w blocks; since a query block's
/// full pairs run back without a gap from the one before the diagonal, and its partial ones are the diagonal and at
/// most the block its document starts in (or, when the query block itself spans documents, every overlapping block
/// back from the diagonal), that keeps exactly the pairs fewer than max(w, 1) blocks back: this predicate.
/// </summary>
readonly struct DocumentWindowBlocks(ArrayView<int> documents, int windowBlocks, int rowBlocks) : IBlockMaskMod
{
    public BlockKind Kind(int queryBlock, int keyBlock, int blockSize)
    {
        if (keyBlock > queryBlock || queryBlock - keyBlock >= Math.Max(windowBlocks, 1) || queryBlock / rowBlocks != keyBlock / rowBlocks)
            return BlockKind.Empty;
        int queryLow = documents[queryBlock * blockSize], queryHigh = documents[queryBlock * blockSize + blockSize - 1];
        int keyLow = documents[keyBlock * blockSize], keyHigh = documents[keyBlock * blockSize + blockSize - 1];
        if (queryLow > keyHigh || keyLow > queryHigh) return BlockKind.Empty;
        bool oneDocument = queryLow == keyHigh && keyLow == queryHigh;
        return keyBlock < queryBlock && oneDocument ? BlockKind.Full : BlockKind.Partial;
    }
}

sealed class Block : Module
{
    readonly Linear? _attnProj;
    readonly Linear _fc, _mlpProj;
    readonly Tensor? _qkv, _valueLambdas;
    readonly float _attentionScale;
    readonly Tensor _lambdas;
    readonly RotaryTables _rotary;
    readonly int _heads, _dim;

    public Block(Device device, Hyperparameters hp, RotaryTables rotary, Random rng, bool attention) : base(device)
    {
        (_heads, _dim, _rotary, _attentionScale) = (hp.Heads, hp.Dim, rotary, hp.AttentionScale);
        if (attention)
        {
            _qkv = Parameter("attn.qkv_w", Uniform(rng, hp, hp.Dim, 3 * hp.Dim), 3, hp.Dim, hp.Dim);
            _attnProj = Child("attn.c_proj", new Linear(device, rng, hp.Dim, hp.Dim, Init.Zeros((long)hp.Dim * hp.Dim)));
        }
        _fc = Child("mlp.c_fc", new Linear(device, rng, hp.Dim, 4 * hp.Dim, Uniform(rng, hp, hp.Dim, 4 * hp.Dim)));
        _mlpProj = Child("mlp.c_proj", new Linear(device, rng, 4 * hp.Dim, hp.Dim, Init.Zeros(4L * hp.Dim * hp.Dim)));
        _lambdas = Parameter("lambdas", [1f, 0f], 2);
        if (attention) _valueLambdas = Parameter("attn.lambdas", [0.5f, 0.5f], 2);
    }

    /// <summary>U(±√3·InitScale/√fan_in) for an (out, in) weight.</summary>
    static float[] Uniform(Random rng, Hyperparameters hp, int inFeatures, int outFeatures) =>
        Init.Uniform(rng, (long)outFeatures * inFeatures, Math.Sqrt(3) * hp.InitScale / Math.Sqrt(inFeatures));

    /// <summary>x = λ0·x + λ1·x0, then the attention (its values mixed with this layer's value embedding ve, if any;
    /// none in the block without attention) and MLP branches.</summary>
    public Tensor Forward(Tensor x, Tensor? ve, Tensor x0, BlockMask<DocumentMask> mask)
    {
        x = Gpt.Bf16(_lambdas.Narrow(0, 0, 1) * x + _lambdas.Narrow(0, 1, 1) * x0);
        if (_attnProj is not null) x = Gpt.Bf16(x + Gpt.Bf16(_attnProj.Forward(Attention(Gpt.Bf16(F.RmsNorm(x)), ve, mask))));
        var h = Gpt.Bf16(F.Unary<ReluSquared>(Gpt.Bf16(_fc.Forward(Gpt.Bf16(F.RmsNorm(x))))));
        x = Gpt.Bf16(x + Gpt.Bf16(_mlpProj.Forward(h)));
        return x;
    }

    /// <summary>Self-attention under the block mask: q, k and v from one GEMM with the merged weight; QK-norm, then rotary,
    /// on q and k in (B, T, H, D); the values mixed with the value embedding, v = λ0·v + λ1·ve (v = λ0·v without one); the
    /// B rows laid end to end as one stream, heads moved to (1, H, B·T, D); scale AttentionScale (0.12).</summary>
    Tensor Attention(Tensor x, Tensor? ve, BlockMask<DocumentMask> mask)
    {
        int b = x.Dim(0), t = x.Dim(1), d = _dim / _heads;
        var qkv = F.Chunk(Gpt.Bf16(F.Linear(x, _qkv!.View(3 * _dim, _dim))), 3); // (B, T, Dim) each
        var q = Gpt.Bf16(new Rotary(_rotary).Apply(Gpt.Bf16(F.RmsNorm(qkv[0].View(b, t, _heads, d)))));
        var k = Gpt.Bf16(new Rotary(_rotary).Apply(Gpt.Bf16(F.RmsNorm(qkv[1].View(b, t, _heads, d)))));
        var v = qkv[2].View(b, t, _heads, d);
        v = ve is null
            ? Gpt.Bf16(_valueLambdas!.Narrow(0, 0, 1) * v)
            : Gpt.Bf16(_valueLambdas!.Narrow(0, 0, 1) * v + _valueLambdas.Narrow(0, 1, 1) * ve.View(b, t, _heads, d));
        Tensor Stream(Tensor z) => z.View(1, b * t, _heads, d).Transpose(1, 2);
        var y = Gpt.Bf16(F.FlexAttention(Stream(q), Stream(k), Stream(v), mask, _attentionScale));
        return y.Transpose(1, 2).View(b, t, _dim);
    }
}

/// <summary>The offset logits 30·σ(z/7.5) (= 15·tanh(z/15) + 15), in fp32, fused into one kernel for forward and one
/// for backward: d/dz = 30·σ·(1 − σ)/7.5.</summary>
readonly struct OffsetLogits : IVectorUnaryOp
{
    public float Forward(float z) => 30f * Sigmoid(z);

    public float Backward(float z, float dy)
    {
        float s = Sigmoid(z);
        return 4f * s * (1f - s) * dy;
    }

    static float Sigmoid(float z) => 1f / (1f + KernelMath.Exp(-z / 7.5f));

    // The same a SIMD vector at a time, with the same bits: the CPU device runs these ((-z)/7.5 = z/(-7.5) exactly).
    public Vector<float> Forward(Vector<float> z) => new Vector<float>(30f) * Sigmoid(z);

    public Vector<float> Backward(Vector<float> z, Vector<float> dy)
    {
        var s = Sigmoid(z);
        return new Vector<float>(4f) * s * (Vector<float>.One - s) * dy;
    }

    static Vector<float> Sigmoid(Vector<float> z) => Vector<float>.One / (Vector<float>.One + KernelMath.Exp(z / new Vector<float>(-7.5f)));
}

/// <summary>
/// The record's FP8 head, y = x·Wᵀ through fp8 (torch._scaled_mm with per-tensor scales):
/// forward y = bf16((e4m3(x·xs) · e4m3(W·ws)ᵀ) / (xs·ws)), the products accumulated with cuBLASLt's fast
/// accumulation on the GPU (fp32 on the CPU);
/// backward with g8 = e5m2(bf16(dy)·gs) (the gradient reaches the head's bf16 output as bf16):
/// dx = bf16((g8 · e4m3(W·ws)) / (gs·ws)) and dW = (g8ᵀ · e4m3(x·xs)) / (gs·xs) in fp32.
/// x and W's fp8 copies are what backward keeps.
/// </summary>
sealed class Fp8Head(float xScale, float wScale, float gradScale) : Function("fp8_head")
{
    Tensor? _x8, _w8;

    protected override Tensor[] Forward(Tensor[] inputs)
    {
        _x8 = F.ToFloat8(inputs[0], DType.F8E4M3, xScale);
        _w8 = F.ToFloat8(inputs[1], DType.F8E4M3, wScale);
        return [F.RoundToBf16(F.ScaledMatmul(_x8, _w8, 1f / xScale, 1f / wScale, useFastAccum: true))];
    }

    public override Tensor?[] Backward(Tensor[] gradOutputs)
    {
        var g8 = F.ToFloat8(F.RoundToBf16(gradOutputs[0]), DType.F8E5M2, gradScale);
        var dx = F.RoundToBf16(F.ScaledMatmul(g8, Transposed(_w8!), 1f / gradScale, 1f / wScale));
        var dw = F.ScaledMatmul(Transposed(g8), Transposed(_x8!), 1f / gradScale, 1f / xScale);
        return [dx, dw];
    }

    /// <summary>An fp8 matrix transposed (ScaledMatmul takes its second operand as (N, K)): through fp32, exactly, since
    /// every fp8 value is an fp32 one.</summary>
    static Tensor Transposed(Tensor t8) => F.ToFloat8(F.FromFloat8(t8).Transpose(0, 1), t8.DType);
}

/// <summary>ReLU², relu(x)² (the MLP's activation), fused into one kernel for forward and one for backward.</summary>
readonly struct ReluSquared : IUnaryOp
{
    public float Forward(float x)
    {
        float r = x < 0f ? 0f : x;
        return r * r;
    }

    public float Backward(float x, float dy) => x <= 0f ? 0f : 2f * x * dy;
}

// -----------------------------------------------------------------------------------------------------
// Rotary position embeddings (RoFormer), half-truncated: dims i and i + D/2 of each head form a pair, rotated by
// -θ(t, i) with θ(t, i) = t·f_i, f_i = (1/base)^(i/(D/4 − 1)) for i < D/4 and 0 after (those pairs pass through):
// y1 = x1·cos + x2·sin, y2 = -x1·sin + x2·cos. A Function with its own kernel (one pass instead of six element-wise ops
// and a concatenation); its backward is the inverse rotation.

/// <summary>cos and sin of θ(t, i) for every position and pair, (positions, D/2): the frequencies, angles and tables
/// in fp32 (torch.linspace(0, 1, D/4) as the exponents).</summary>
sealed class RotaryTables
{
    public RotaryTables(Device device, int positions, int headDim, float theta)
    {
        int half = headDim / 2, quarter = headDim / 4;
        var cos = new float[positions * half];
        var sin = new float[positions * half];
        for (int i = 0; i < half; i++)
        {
            float frequency = i < quarter ? MathF.Pow(1f / theta, Linspace01(i, quarter)) : 0f;
            for (int t = 0; t < positions; t++)
            {
                float angle = t * frequency;
                cos[t * half + i] = MathF.Cos(angle);
                sin[t * half + i] = MathF.Sin(angle);
            }
        }
        Cos = Tensor.Persistent(device, DType.F32, positions, half);
        Sin = Tensor.Persistent(device, DType.F32, positions, half);
        Cos.F32.CopyFromCPU(device.Stream, cos);
        Sin.F32.CopyFromCPU(device.Stream, sin);
    }

    /// <summary>torch.linspace(0, 1, n)[i] as torch computes it: the lower half forward from 0, the upper half back from
    /// 1, in fp32 steps of 1/(n − 1). i/(n − 1) would be an ulp off at some points of the upper half.</summary>
    static float Linspace01(int i, int n)
    {
        float step = 1f / (n - 1);
        return i < n / 2 ? i * step : 1f - (n - 1 - i) * step;
    }

    public Tensor Cos { get; }
    public Tensor Sin { get; }
}

/// <summary>Rotary embedding of x (B, T, H, D) for positions 0..T-1.</summary>
sealed class Rotary(RotaryTables tables) : Function("rotary")
{
    protected override Tensor[] Forward(Tensor[] inputs)
    {
        var x = inputs[0];
        var y = Tensor.Empty(x.Device, x.Shape);
        Rotate(x, y, sign: 1f);
        return [y];
    }

    public override Tensor?[] Backward(Tensor[] gradOutputs)
    {
        var dy = gradOutputs[0];
        var dx = Tensor.Empty(dy.Device, dy.Shape);
        Rotate(dy, dx, sign: -1f); // the transpose of a rotation is the rotation back
        return [dx];
    }

    void Rotate(Tensor x, Tensor y, float sign)
    {
        int t = x.Dim(1), h = x.Dim(2), half = x.Dim(3) / 2;
        var kernels = x.Device.Kernels(static d => new RotaryKernels(d));
        kernels.Rotate(x.Device.Launch.For(x.Length / 2), x.F32, tables.Cos.F32, tables.Sin.F32, y.F32, t, h, half, sign);
    }
}

sealed class RotaryKernels(Device device)
{
    public readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, float> Rotate =
        device.Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, float>(RotateKernel);

    // One iteration per pair, grid-stride (a few threads suffice on the CPU accelerator).
    static void RotateKernel(ArrayView<float> x, ArrayView<float> cos, ArrayView<float> sin, ArrayView<float> y,
        int T, int H, int half, float sign)
    {
        int pairs = x.IntLength / 2, stride = Threads.Count;
        for (int p = Threads.Index; p < pairs; p += stride)
        {
            int i = p % half, row = p / half; // row = (b·T + t)·H + h
            int t = row / H % T;
            int a = row * 2 * half + i, b = a + half;
            float c = cos[t * half + i], s = sign * sin[t * half + i];
            float x1 = x[a], x2 = x[b];
            y[a] = x1 * c + x2 * s;
            y[b] = x2 * c - x1 * s;
        }
    }
}

// -----------------------------------------------------------------------------------------------------
// Muon, distributed: for the matrices this rank owns (index i % world == rank), buf ← lerp(buf, g, 1 − momentum) and
// the Nesterov direction lerp(g, buf, momentum) (each (1 − momentum) times record 14's, which the orthogonalisation's
// normalisation undoes) is orthogonalised by NewtonSchulz5 and kept in bf16 in a flat buffer of all updates; the
// buffer is gathered over ranks; every rank then applies W -= lr·sqrt(max(1, rows/cols))·update for every matrix
// (the merged q/k/v is orthogonalised as its three (Dim, Dim) slices at once, scale 1). (The record gathers per group of equal-sized matrices; with one rank the order does not matter.) Runs with recording
// off; state is one momentum buffer per matrix and the flat update buffer.
sealed class Muon : IDisposable
{
    readonly List<(Tensor Param, Tensor Buffer)> _state = new();
    readonly Tensor _updates;
    readonly int _rank, _worldSize;

    public Muon(IReadOnlyList<Tensor> parameters, float lr, float momentum, int rank, int worldSize)
    {
        (Lr, InitialLr, Momentum, _rank, _worldSize) = (lr, lr, momentum, rank, worldSize);
        foreach (var p in parameters)
            _state.Add((p, Tensor.Persistent(p.Device, DType.F32, p.Shape).Zero_()));
        _updates = Tensor.Persistent(parameters[0].Device, DType.F32, (int)parameters.Sum(p => p.Length));
    }

    public float Lr { get; set; }
    public float InitialLr { get; }
    public float Momentum { get; set; }

    public void Step()
    {
        using var noGrad = GradMode.NoGrad();
        _updates.Zero_();
        int offset = 0;
        for (int i = 0; i < _state.Count; i++)
        {
            var (p, buffer) = _state[i];
            if (i % _worldSize == _rank)
            {
                using var scope = new TensorScope();
                var g = p.Grad!;
                buffer.Copy_(buffer + (1f - Momentum) * (g - buffer));
                var update = F.RoundToBf16(NewtonSchulz5(g + Momentum * (buffer - g)));
                _updates.Narrow(0, offset, (int)p.Length).Copy_(update);
            }
            offset += (int)p.Length;
        }
        AllGather(_updates);
        offset = 0;
        foreach (var (p, _) in _state)
        {
            p.Add_(_updates.Narrow(0, offset, (int)p.Length), -Lr * MathF.Sqrt(Math.Max(1f, (float)p.Dim(-2) / p.Dim(-1))));
            offset += (int)p.Length;
        }
    }

    /// <summary>Gathers every rank's updates into the buffer. With one rank it already holds every update.</summary>
    void AllGather(Tensor buffer)
    {
        if (_worldSize != 1) throw new NotSupportedException("Multi-GPU training is not available; run with world size 1.");
    }

    /// <summary>
    /// The quintic Newton-Schulz iteration that maps G to about U·Vᵀ of its SVD, batched over the leading dim of a
    /// (S, M, N) G (a matrix is one slice), in bf16 as the record runs it (every product and sum rounded to bf16; the
    /// element-wise part fused, as torch.compile fuses it): X = bf16(G)/‖bf16(G)‖ per slice, on the wide side; five times
    /// A = X·Xᵀ, B = b·A + (c·A)·A, X = a·X + B·X, each product one strided-batched GEMM over the slices.
    /// </summary>
    static Tensor NewtonSchulz5(Tensor g)
    {
        const float a = 3.4445f, b = -4.7750f, c = 2.0315f;
        int slices = g.Rank == 3 ? g.Dim(0) : 1, rows = g.Dim(-2), cols = g.Dim(-1);
        var x = F.RoundToBf16(g).View(slices, rows * cols);
        var norms = F.RoundToBf16(F.RoundToBf16(F.Sqrt(F.Sum(F.Square(x), -1))) + 1e-7f); // (S)
        x = F.RoundToBf16(x.Transpose(0, 1) / norms).Transpose(0, 1).View(slices, rows, cols); // a divisor per slice
        bool tall = rows > cols;
        if (tall) x = x.Transpose(1, 2);
        using (Autocast.Use(MatmulPrecision.BF16))
        {
            for (int i = 0; i < 5; i++)
            {
                var A = F.RoundToBf16(x.Matmul(x.Transpose(1, 2)));
                var B = F.RoundToBf16(b * A + F.RoundToBf16(F.RoundToBf16(c * A).Matmul(A)));
                x = F.RoundToBf16(a * x + F.RoundToBf16(B.Matmul(x)));
            }
        }
        return (tall ? x.Transpose(1, 2) : x).View(g.Shape);
    }

    public void Dispose()
    {
        foreach (var (_, buffer) in _state) buffer.Dispose();
        _updates.Dispose();
    }
}
