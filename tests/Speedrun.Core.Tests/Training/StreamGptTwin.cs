using TorchSharp;
using static TorchSharp.torch;
using TTensor = TorchSharp.torch.Tensor;
using Parameter = TorchSharp.Modules.Parameter;

namespace Speedrun.Core.Tests.Training;

/// <summary>
/// The model of records 12 and on (one stream of tokens, attention under a document and window mask) written with
/// TorchSharp ops in float64, from the weights of the record's own model (copied by parameter name): record 11's bf16
/// U-net (as <see cref="RotaryGptTwin.Record11"/> computes it) with attention written out densely: scores =
/// q·kᵀ/√D, every pair the mask hides set to −∞, softmax, times v. The mask is built from the stream as a T × T
/// table: causal (k ≤ q), same document (document ids = running count of end-of-text tokens) and within the window
/// (q − k &lt; <see cref="Window"/>), and from record 15 on only where the record's hand-built block mask keeps the
/// pair of blocks (<see cref="Options.BlockMask"/>). <see cref="Options"/> says which record's model it is.
/// </summary>
sealed class StreamGptTwin
{
    /// <summary>What a block mixes into its values.</summary>
    public enum ValueMixing
    {
        /// <summary>v = (1 − λ)·v + λ·v1, v1 layer 0's values (records 9-13).</summary>
        FirstLayerValues,
        /// <summary>v = (1 − λ)·v + λ·ve, ve a Dim-wide slice of the value embedding vte.weight (record 14).</summary>
        ValueEmbeddings,
        /// <summary>v = λ0·v + λ1·ve with the two scalars h.{l}.attn.lambdas, ve a Dim-wide slice of vte.weight (record
        /// 15) or a table ve.{i}.weight (records 16+, found by name); v = λ0·v in a layer the layout gives none
        /// (records 17+).</summary>
        ValueEmbeddingLambdas,
    }

    /// <summary>Which value embedding (a slice of vte.weight, or a table ve.{i}.weight) layer l of L mixes in.</summary>
    public enum ValueEmbeddingLayout
    {
        /// <summary>Its own, slice l (record 14: L slices).</summary>
        OwnLayer,
        /// <summary>The U-net's: encoder layer i slice i, decoder layer L/2 + i slice L/2 − 1 − i (records 15-16: L/2
        /// slices or tables).</summary>
        Mirrored,
        /// <summary>The first n layers tables 0 … n − 1 and the last n the same again, in the same order; none between
        /// (records 17+, n the tables there are).</summary>
        FirstAndLast,
    }

    /// <summary>The rotary frequencies.</summary>
    public enum RotaryFrequencies
    {
        /// <summary>1 / 10000^(2i/D) for each of the D/2 pairs (records 12-16).</summary>
        Full,
        /// <summary>(1/1024)^(i/(D/4 − 1)) for i below D/4 (torch.linspace(0, 1, D/4) as the exponents, in fp32), then
        /// zeros: the second quarter's pairs pass through unrotated (records 17+).</summary>
        HalfTruncated,
    }

    /// <summary>Which pairs of blocks that the record's hand-built block mask keeps are full (seen whole, the element
    /// mask not evaluated) rather than partial (records 15+, <see cref="Options.BlockMask"/>).</summary>
    public enum FullPairs
    {
        /// <summary>None: the element mask decides in every kept pair (record 15).</summary>
        None,
        /// <summary>Key block strictly earlier, both blocks wholly in one and the same document (records 16+). In such
        /// a pair the element mask (causal ∧ same document) shows every key anyway.</summary>
        OneDocument,
        /// <summary>A mutation: every strictly earlier kept pair full, those straddling a document boundary too.</summary>
        EveryEarlier,
        /// <summary>A mutation: the one-document pairs dropped instead of kept full.</summary>
        OneDocumentHidden,
    }

    /// <summary>How the rotary angles t·inv_freq are computed before their cos and sin (always rounded to bf16).</summary>
    public enum RotaryAngles
    {
        /// <summary>In fp32 (records 12-13).</summary>
        Fp32,
        /// <summary>inv_freq, the position and their product each rounded to bf16, and cos/sin computed from that
        /// (records 14-16, where the model-wide bf16 cast reaches the frequency buffer).</summary>
        Bf16,
    }

    /// <summary>What the twin computes (what differs between the records, and what a mutation may change).</summary>
    public sealed record Options
    {
        /// <summary>Record 10's bf16 emulation (see <see cref="RotaryGptTwin.Architecture.Bf16Compute"/>).</summary>
        public bool Bf16Compute { get; init; } = true;
        /// <summary>Keys of another document hidden.</summary>
        public bool DocumentTerm { get; init; } = true;
        /// <summary>Keys at least the window back hidden.</summary>
        public bool WindowTerm { get; init; } = true;
        public ValueMixing Values { get; init; } = ValueMixing.FirstLayerValues;
        /// <summary>With value embeddings: which slice or table each layer mixes in.</summary>
        public ValueEmbeddingLayout Layout { get; init; } = ValueEmbeddingLayout.OwnLayer;
        /// <summary>A mutation's override of <see cref="Layout"/>: the slice of vte.weight, or the table ve.{i}.weight,
        /// layer l mixes in (null: none).</summary>
        public Func<int, int?>? ValueEmbeddingSlice { get; init; }
        public RotaryAngles Angles { get; init; } = RotaryAngles.Fp32;
        public RotaryFrequencies Frequencies { get; init; } = RotaryFrequencies.Full;
        /// <summary>The logits are capped as c·tanh(z/c).</summary>
        public double Softcap { get; init; } = 30;
        /// <summary>
        /// Records 15+: the record builds its block mask by hand, keeping the pair (query block, key block) when the key
        /// block is not later, fewer than ⌈<see cref="Window"/> / <see cref="BlockSize"/>⌉ blocks back, and the two
        /// blocks' document ranges (the documents of their first and last tokens) overlap; a query sees a key only in a
        /// kept pair, and there only where the pair is full (<see cref="Full"/>) or the element mask shows it
        /// (FlexAttention's semantics). So where the window is not a whole number of blocks behind a query's block
        /// (record 15's token window), a key the element mask shows can lie in a block the block mask drops. Records
        /// 12-14 (false): create_block_mask keeps every block pair with a visible element, and the element mask alone
        /// decides.
        /// </summary>
        public bool BlockMask { get; init; }
        public FullPairs Full { get; init; } = FullPairs.None;
        /// <summary>The block size the program runs at (the tests': <see cref="StreamRecordOracle.BlockSize"/>).</summary>
        public int BlockSize { get; init; } = StreamRecordOracle.BlockSize;
        /// <summary>The rotary cos/sin tables rounded to bf16 (records 12-17, the model-wide cast), or kept fp32 (18+).</summary>
        public bool Bf16RotaryTables { get; init; } = true;
        /// <summary>What the head's output z becomes before the softmax.</summary>
        public LogitCap Logits { get; init; } = LogitCap.Softcap;
        /// <summary>Records 19+: the head in FP8 at these scales (<see cref="Fp8HeadTwin"/>; the program's Gpt.Training,
        /// its default), or the plain bf16 head (null; records 12-18, and 19+ in the program's evaluation mode). The
        /// unrounded twin (<see cref="Bf16Compute"/> off) takes the plain head in float64.</summary>
        public Fp8HeadTwin.Scales? Fp8Head { get; init; }
        /// <summary>Attention's softmax scale: 1/√D (null; records 12-19) or this (record 20: 0.12).</summary>
        public double? AttentionScale { get; init; }
        /// <summary>Record 20: each encoder layer's window, L(ong: <see cref="Window"/>) or S(hort: half its blocks, at
        /// least one), the decoder's the reverse (the program's hp.EncoderWindows); null: every layer long.</summary>
        public string? EncoderWindows { get; init; }
        /// <summary>The gradient backward starts from at the loss (its value unchanged): the program's
        /// <see cref="RecordGpt.LossGradient"/>, which <see cref="StreamRecordOracle.Twin"/> copies here.</summary>
        public double LossGradient { get; init; } = 1;
    }

    /// <summary>What the head's output z becomes before the softmax.</summary>
    public enum LogitCap
    {
        /// <summary>bf16(c·tanh(z/c)), c = <see cref="Options.Softcap"/> (records 9-18).</summary>
        Softcap,
        /// <summary>30·σ(z/7.5) = 15·tanh(z/15) + 15, unrounded (records 19+: in fp32).</summary>
        Offset,
    }

    /// <summary>Record 12: record 11's model on one stream under the document and window mask.</summary>
    public static Options Record12 { get; } = new();

    /// <summary>Record 13: record 12's model; what changed is training (the window set each step, Adam's β1, Muon's
    /// rate), which the oracle sets through <see cref="Window"/> and the optimizers.</summary>
    public static Options Record13 { get; } = Record12;

    /// <summary>Record 14: each layer's own slice of the value embeddings in place of layer 0's values; bf16 rotary
    /// angles.</summary>
    public static Options Record14 { get; } = Record13 with { Values = ValueMixing.ValueEmbeddings, Angles = RotaryAngles.Bf16 };

    /// <summary>Record 15: L/2 slices of vte mirrored over the U-net, mixed as v = λ0·v + λ1·ve (h.{l}.attn.lambdas);
    /// the hand-built block mask (every kept pair partial, ⌈window/block⌉ blocks) over the element mask, which keeps its
    /// token window.</summary>
    public static Options Record15 { get; } = Record14 with
    {
        Values = ValueMixing.ValueEmbeddingLambdas, Layout = ValueEmbeddingLayout.Mirrored, BlockMask = true,
    };

    /// <summary>Record 16: the same maths from L/2 separate tables ve.{i}.weight; the window in whole blocks (set
    /// <see cref="Window"/> to blocks·BlockSize), the element mask causal ∧ same document only; full pairs where both
    /// blocks lie wholly in one document.</summary>
    public static Options Record16 { get; } = Record15 with { WindowTerm = false, Full = FullPairs.OneDocument };

    /// <summary>Record 17: tables for the first and last n layers only (v = λ0·v between); half-truncated rotary with
    /// fp32 angles; the head's rows (the vocabulary padded to a multiple of 128) from lm_head.weight; a layer without
    /// attention parameters (hp.LayerWithoutAttention) has no attention branch.</summary>
    public static Options Record17 { get; } = Record16 with
    {
        Layout = ValueEmbeddingLayout.FirstAndLast, Frequencies = RotaryFrequencies.HalfTruncated, Angles = RotaryAngles.Fp32,
    };

    /// <summary>Record 18: softcap 15; the rotary tables fp32 (the model is no longer cast to bf16; only the embedding
    /// tables are bf16, which the optimizers' side keeps: the scalars are no longer rounded, <see
    /// cref="TwinOptimizers.RoundBf16Scalars"/>).</summary>
    public static Options Record18 { get; } = Record17 with { Softcap = 15, Bf16RotaryTables = false };

    /// <summary>Record 19: the FP8 head (x·2, W·32, gradient·2^29) while training, and offset logits 30·σ(z/7.5) in
    /// fp32.</summary>
    public static Options Record19 { get; } = Record18 with { Logits = LogitCap.Offset, Fp8Head = Fp8HeadTwin.Scales.Record19 };

    /// <summary>Record 20: q, k and v from the merged h.{l}.attn.qkv_w (3, C, C) (found by name), attention scale 0.12,
    /// long and short windows (set <see cref="Options.EncoderWindows"/> to the program's hp.EncoderWindows).</summary>
    public static Options Record20 { get; } = Record19 with { AttentionScale = 0.12, EncoderWindows = "LSSSLS" };

    /// <summary>Record 21: the FP8 head's scales x·2, W·2^9, gradient·2^19.</summary>
    public static Options Record21 { get; } = Record20 with { Fp8Head = Fp8HeadTwin.Scales.Record21 };

    /// <summary>The slice or table layer <paramref name="layer"/> of <paramref name="layers"/> mixes in under
    /// <paramref name="layout"/> with <paramref name="tables"/> slices or tables; null for none.</summary>
    public static int? ValueEmbeddingOf(ValueEmbeddingLayout layout, int layer, int layers, int tables) => layout switch
    {
        ValueEmbeddingLayout.OwnLayer => layer,
        ValueEmbeddingLayout.Mirrored => layer < layers / 2 ? layer : layers - 1 - layer,
        _ => layer < tables ? layer : layer >= layers - tables ? layer - (layers - tables) : null,
    };

    const double RotaryBase = 10000;
    static readonly double NormEps = Math.Pow(2, -23);
    readonly OracleSizes _size;
    readonly int _endOfText;
    readonly Options _options;
    readonly Dictionary<string, Parameter> _p;
    readonly TTensor _cos, _sin;

    public StreamGptTwin(OracleSizes size, int window, int endOfText, IEnumerable<(string Name, float[] Values, int[] Shape)> weights,
        Options options)
    {
        if (size.Batch != 1) throw new ArgumentException("The stream records read one stream: Batch must be 1.");
        (_size, Window, _endOfText, _options) = (size, window, endOfText, options);
        _p = weights.ToDictionary(
            w => w.Name,
            w => new Parameter(torch.tensor(w.Values.Select(v => (double)v).ToArray(), w.Shape.Select(d => (long)d).ToArray())));
        var (cos, sin) = RotaryTables(size.SequenceLength, size.HeadDim, options.Angles, options.Frequencies, options.Bf16RotaryTables);
        (_cos, _sin) = (cos.view(1, size.SequenceLength, 1, size.HeadDim / 2), sin.view(1, size.SequenceLength, 1, size.HeadDim / 2));
    }

    /// <summary>Every parameter by the name the record's model gives it.</summary>
    public IReadOnlyDictionary<string, Parameter> Parameters => _p;

    /// <summary>How many positions back a query sees; from record 13 on the oracle sets it every step, as the program sets its
    /// model's AttentionWindow (records 16+: the window's blocks times the block size, the tokens its blocks span).</summary>
    public int Window { get; set; }

    /// <summary>The tables the record keeps in bf16 (and rounds after each step): the token embedding and, where the
    /// model has them, the value embeddings (vte.weight, or the tables ve.{i}.weight).</summary>
    public IEnumerable<Parameter> Embeddings =>
        _p.Where(p => p.Key is "wte.weight" or "vte.weight" || p.Key.StartsWith("ve.")).Select(p => p.Value);

    /// <summary>cos and sin of the angles t·inv_freq for t below <paramref name="positions"/> and i below D/2,
    /// inv_freq = 1 / base^(2i/D) (or <see cref="RotaryFrequencies.HalfTruncated"/>'s), (positions, D/2) each, rounded
    /// to bf16 (fp32 when not <paramref name="bf16Tables"/>; as float64 values).</summary>
    public static (TTensor Cos, TTensor Sin) RotaryTables(int positions, int headDim, RotaryAngles angles,
        RotaryFrequencies frequencies = RotaryFrequencies.Full, bool bf16Tables = true)
    {
        static TTensor Round(TTensor fp32) => fp32.to_type(ScalarType.BFloat16).to_type(ScalarType.Float32);
        var inverseFrequency = frequencies == RotaryFrequencies.HalfTruncated
            ? torch.cat([torch.pow(1f / 1024, torch.linspace(0, 1, headDim / 4, ScalarType.Float32)),
                torch.zeros(headDim / 4, ScalarType.Float32)])
            : 1.0f / torch.tensor((float)RotaryBase).pow(torch.arange(0, headDim, 2, ScalarType.Float32) / headDim);
        var position = torch.arange(positions, ScalarType.Float32);
        // A product of two bf16 values is exact in fp32, so rounding it once gives the bf16 product.
        var theta = angles == RotaryAngles.Bf16
            ? Round(torch.outer(Round(position), Round(inverseFrequency)))
            : torch.outer(position, inverseFrequency);
        var (cos, sin) = bf16Tables ? (Round(theta.cos()), Round(theta.sin())) : (theta.cos(), theta.sin());
        return (cos.to_type(ScalarType.Float64), sin.to_type(ScalarType.Float64));
    }

    /// <summary>The T × T table of what each query sees in the stream <paramref name="inputs"/>.</summary>
    public TTensor Visible(int[] inputs) => Visible(inputs, Window);

    /// <summary>The same at another window than <see cref="Window"/> (record 20's short one).</summary>
    public TTensor Visible(int[] inputs, int window)
    {
        long t = inputs.Length;
        var position = arange(t, ScalarType.Int64);
        TTensor q = position.unsqueeze(1), k = position.unsqueeze(0);
        var visible = k.le(q);
        var documents = torch.tensor(inputs.Select(i => (long)i).ToArray()).eq(_endOfText).to_type(ScalarType.Int64).cumsum(0);
        if (_options.DocumentTerm) visible = visible.logical_and(documents.unsqueeze(1).eq(documents.unsqueeze(0)));
        if (_options.WindowTerm) visible = visible.logical_and((q - k).lt(window));
        if (!_options.BlockMask) return visible;

        // Records 15+: the block pairs the record keeps, and of those the full ones, spread over their positions.
        int size = _options.BlockSize;
        if (t % size != 0) throw new ArgumentException($"{t} positions are not whole blocks of {size}.");
        var block = torch.tensor(Enumerable.Range(0, (int)t).Select(i => (long)(i / size)).ToArray());
        var ranges = documents.view(-1, size);
        var (low, high) = (ranges.select(1, 0).index_select(0, block), ranges.select(1, size - 1).index_select(0, block)); // per position
        TTensor queryBlock = block.unsqueeze(1), keyBlock = block.unsqueeze(0);
        TTensor lowQ = low.unsqueeze(1), highQ = high.unsqueeze(1), lowK = low.unsqueeze(0), highK = high.unsqueeze(0);
        long windowBlocks = (window + size - 1) / size;
        var kept = keyBlock.le(queryBlock).logical_and((queryBlock - keyBlock).lt(windowBlocks))
            .logical_and(lowQ.le(highK)).logical_and(lowK.le(highQ));
        var earlier = keyBlock.lt(queryBlock);
        var oneDocument = earlier.logical_and(lowQ.eq(highK)).logical_and(lowK.eq(highQ));
        return _options.Full switch
        {
            FullPairs.None => kept.logical_and(visible),
            FullPairs.OneDocument => kept.logical_and(oneDocument.logical_or(visible)),
            FullPairs.EveryEarlier => kept.logical_and(earlier.logical_or(visible)),
            _ => kept.logical_and(oneDocument.logical_not()).logical_and(visible),
        };
    }

    TTensor Bf16(TTensor x) => _options.Bf16Compute ? Round(x) : x;

    static TTensor Round(TTensor x) => x.to_type(ScalarType.BFloat16).to_type(ScalarType.Float64);

    /// <summary>x·Wᵀ as <see cref="RotaryGptTwin"/> computes it under bf16: bf16 operands accumulated in float64, the
    /// product's gradient rounded to bf16.</summary>
    TTensor Linear(TTensor x, string weight) => Linear(x, _p[weight]);

    TTensor Linear(TTensor x, TTensor w)
    {
        if (!_options.Bf16Compute) return x.matmul(w.t());
        static TTensor RoundForward(TTensor z) => z + (Round(z) - z).detach();
        var y = RoundForward(x).matmul(RoundForward(w).t());
        var rounded = Round(y);
        return y.detach() + (rounded - rounded.detach());
    }

    static TTensor Rms(TTensor x) => x * torch.rsqrt(x.pow(2).mean([-1], keepdim: true) + NormEps);

    /// <summary>x (1, T, H, D): dims i and i + D/2 rotated by −θ(t, i).</summary>
    TTensor Rotary(TTensor x)
    {
        var halves = x.chunk(2, dim: -1);
        var (x1, x2) = (halves[0], halves[1]);
        return torch.cat([x1 * _cos + x2 * _sin, x2 * _cos - x1 * _sin], dim: -1);
    }

    /// <summary>Mean next-token cross-entropy over the stream, as the record's Gpt.Loss.</summary>
    public TTensor Loss(int[] inputs, int[] targets)
    {
        var (t, c) = (_size.SequenceLength, _size.Dim);
        var hidden = torch.logical_not(Visible(inputs));
        var hiddenAt = LayerMasks(inputs, hidden);
        var idx = torch.tensor(inputs.Select(i => (long)i).ToArray());
        var x = Bf16(Rms(_p["wte.weight"].index_select(0, idx).view(1, t, c)));
        var x0 = x;
        TTensor? v1 = null;
        int encoder = _size.Layers / 2;
        var skips = new Stack<TTensor>();
        for (int l = 0; l < _size.Layers; l++)
        {
            if (l >= encoder) x = Bf16(x + _p["skip_weights"][l - encoder] * skips.Pop());
            var mixed = _options.Values == ValueMixing.FirstLayerValues ? v1 : ValueEmbedding(l, idx);
            (x, v1) = Block(l, x, x0, mixed, hiddenAt(l));
            if (l < encoder) skips.Push(x);
        }
        x = Bf16(Rms(x));
        var z = _options.Fp8Head is { } scales && _options.Bf16Compute
            ? Fp8HeadTwin.Apply(x.view(t, c), _p["lm_head.weight"], scales)
            : Bf16(Linear(x, "lm_head.weight"));
        var logits = _options.Logits == LogitCap.Offset
            ? 30 * torch.sigmoid(z / 7.5)
            : Bf16(_options.Softcap * torch.tanh(z / _options.Softcap));
        var tgt = torch.tensor(targets.Select(i => (long)i).ToArray());
        var loss = nn.functional.cross_entropy(logits.view(-1, logits.shape[^1]), tgt); // every row of the head (record 17: padded)
        if (_options.LossGradient == 1) return loss;
        var scaled = _options.LossGradient * loss;
        return loss.detach() + (scaled - scaled.detach()); // the loss, its gradient LossGradient
    }

    /// <summary>What each layer's attention hides: <paramref name="hidden"/> (the long window) everywhere, or with
    /// <see cref="Options.EncoderWindows"/> the short window's mask in the layers it marks S.</summary>
    Func<int, TTensor> LayerMasks(int[] inputs, TTensor hidden)
    {
        if (_options.EncoderWindows is not string encoder) return _ => hidden;
        var windows = encoder + new string(encoder.Reverse().ToArray());
        if (windows.Length != _size.Layers)
            throw new ArgumentException($"EncoderWindows \"{encoder}\" does not name a window for each of the {_size.Layers / 2} encoder layers.");
        int size = _options.BlockSize, shortBlocks = Math.Max(1, (Window + size - 1) / size / 2);
        var hiddenShort = torch.logical_not(Visible(inputs, shortBlocks * size));
        return l => windows[l] == 'L' ? hidden : hiddenShort;
    }

    /// <summary>The value embedding layer <paramref name="l"/> mixes in, (1, T, C), one row per token (bf16 values, used
    /// as they are): a Dim-wide slice of vte.weight (records 14-15) or the table ve.{i}.weight (16+); null for none.</summary>
    TTensor? ValueEmbedding(int l, TTensor idx)
    {
        var (t, c) = (_size.SequenceLength, _size.Dim);
        bool sliced = _p.ContainsKey("vte.weight");
        int tables = sliced ? (int)(_p["vte.weight"].shape[1] / c) : _p.Keys.Count(n => n.StartsWith("ve."));
        int? which = _options.ValueEmbeddingSlice is { } slice ? slice(l) : ValueEmbeddingOf(_options.Layout, l, _size.Layers, tables);
        if (which is not int i) return null;
        return sliced
            ? _p["vte.weight"].index_select(0, idx).view(1, t, -1).narrow(-1, (long)i * c, c)
            : _p[$"ve.{i}.weight"].index_select(0, idx).view(1, t, c);
    }

    /// <summary>One block; <paramref name="mixed"/> is what its values mix in (null in layer 0 of records 9-13, which
    /// mixes its own values and returns them as v1 for the later layers). A block without attention parameters
    /// (record 17's hp.LayerWithoutAttention) is x0-mixing and MLP only.</summary>
    (TTensor X, TTensor? V1) Block(int l, TTensor x, TTensor x0, TTensor? mixed, TTensor hidden)
    {
        string h = $"h.{l}";
        x = Bf16(_p[$"{h}.lambdas"][0] * x + _p[$"{h}.lambdas"][1] * x0);
        TTensor? v = mixed;
        if (_p.ContainsKey($"{h}.attn.c_q.weight") || _p.ContainsKey($"{h}.attn.qkv_w"))
        {
            (var y, v) = Attention(l, Bf16(Rms(x)), mixed, hidden);
            x = Bf16(x + Bf16(Linear(y, $"{h}.attn.c_proj.weight")));
        }
        var mlp = Bf16(Linear(Bf16(Rms(x)), $"{h}.mlp.c_fc.weight"));
        mlp = Bf16(nn.functional.relu(mlp).square());
        x = Bf16(x + Bf16(Linear(mlp, $"{h}.mlp.c_proj.weight")));
        return (x, v);
    }

    /// <summary>Attention of the normed x (1, T, C) under the mask (<paramref name="hidden"/>: the pairs it hides), its
    /// values v mixed with <paramref name="mixed"/> (1, T, C) as v = (1 − λ)·v + λ·mixed (v itself when null), or
    /// (<see cref="ValueMixing.ValueEmbeddingLambdas"/>) as v = λ0·v + λ1·mixed (λ0·v when null).</summary>
    (TTensor Y, TTensor V1) Attention(int l, TTensor x, TTensor? mixed, TTensor hidden)
    {
        var (t, c, d) = (_size.SequenceLength, _size.Dim, _size.HeadDim);
        string a = $"h.{l}.attn";
        TTensor Heads(TTensor z) => z.reshape(1, t, c / d, d); // a value-embedding slice is a strided view
        var (zq, zk, zv) = Projections(x, a);
        var q = Bf16(Rotary(Bf16(Rms(Heads(zq)))));
        var k = Bf16(Rotary(Bf16(Rms(Heads(zk)))));
        var v = Heads(zv);
        var other = mixed is null ? v : Heads(mixed);
        if (_options.Values == ValueMixing.ValueEmbeddingLambdas)
        {
            var lambdas = _p[$"{a}.lambdas"];
            v = Bf16(mixed is null ? lambdas[0] * v : lambdas[0] * v + lambdas[1] * other);
        }
        else
        {
            var lambda = _p[$"{a}.lamb"];
            v = Bf16((1 - lambda) * v + lambda * other);
        }
        var (qh, kh, vh) = (q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)); // (1, H, T, D)
        var scores = qh.matmul(kh.transpose(-2, -1)) * (_options.AttentionScale ?? 1 / Math.Sqrt(d));
        var p = Speedrun.Tests.Torch.TorchOps.MaskedFill(scores, hidden, double.NegativeInfinity).softmax(-1); // the diagonal is always visible
        var y = Bf16(p.matmul(vh));
        return (y.transpose(1, 2).contiguous().view(1, t, c), other);
    }

    /// <summary>q, k and v of x (1, T, C), bf16: from c_q, c_k and c_v, or (record 20) one product with the merged
    /// qkv_w (3, C, C) viewed as (3C, C), split in three.</summary>
    (TTensor Q, TTensor K, TTensor V) Projections(TTensor x, string attention)
    {
        if (!_p.TryGetValue($"{attention}.qkv_w", out var merged))
            return (Bf16(Linear(x, $"{attention}.c_q.weight")), Bf16(Linear(x, $"{attention}.c_k.weight")),
                Bf16(Linear(x, $"{attention}.c_v.weight")));
        var qkv = Bf16(Linear(x, merged.view(-1, merged.shape[^1]))).chunk(3, dim: -1);
        return (qkv[0], qkv[1], qkv[2]);
    }
}
