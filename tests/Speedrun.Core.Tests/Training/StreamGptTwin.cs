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
/// (q − k &lt; <see cref="Window"/>). <see cref="Options"/> says which record's model it is.
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
        /// <summary>With <see cref="ValueMixing.ValueEmbeddings"/>: which Dim-wide column slice of vte.weight layer l
        /// mixes in (record 14: its own, slice l).</summary>
        public Func<int, int> ValueEmbeddingSlice { get; init; } = layer => layer;
        public RotaryAngles Angles { get; init; } = RotaryAngles.Fp32;
        /// <summary>The logits are capped as c·tanh(z/c).</summary>
        public double Softcap { get; init; } = 30;
    }

    /// <summary>Record 12: record 11's model on one stream under the document and window mask.</summary>
    public static Options Record12 { get; } = new();

    /// <summary>Record 13: record 12's model; what changed is training (the window set each step, Adam's β1, Muon's
    /// rate), which the oracle sets through <see cref="Window"/> and the optimizers.</summary>
    public static Options Record13 { get; } = Record12;

    /// <summary>Record 14: each layer's own slice of the value embeddings in place of layer 0's values; bf16 rotary
    /// angles.</summary>
    public static Options Record14 { get; } = Record13 with { Values = ValueMixing.ValueEmbeddings, Angles = RotaryAngles.Bf16 };

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
        var (cos, sin) = RotaryTables(size.SequenceLength, size.HeadDim, options.Angles);
        (_cos, _sin) = (cos.view(1, size.SequenceLength, 1, size.HeadDim / 2), sin.view(1, size.SequenceLength, 1, size.HeadDim / 2));
    }

    /// <summary>Every parameter by the name the record's model gives it.</summary>
    public IReadOnlyDictionary<string, Parameter> Parameters => _p;

    /// <summary>How many positions back a query sees; from record 13 on the oracle sets it every step, as the program sets its
    /// model's AttentionWindow.</summary>
    public int Window { get; set; }

    /// <summary>The tables the record keeps in bf16 (and rounds after each step): the token embedding and, where the
    /// model has them, the value embeddings.</summary>
    public IEnumerable<Parameter> Embeddings => new[] { "wte.weight", "vte.weight" }.Where(_p.ContainsKey).Select(n => _p[n]);

    /// <summary>cos and sin of the angles t·inv_freq, inv_freq = 1 / base^(2i/D), for t below
    /// <paramref name="positions"/> and i below D/2, (positions, D/2) each, rounded to bf16 (as float64 values).</summary>
    public static (TTensor Cos, TTensor Sin) RotaryTables(int positions, int headDim, RotaryAngles angles)
    {
        static TTensor Round(TTensor fp32) => fp32.to_type(ScalarType.BFloat16).to_type(ScalarType.Float32);
        var inverseFrequency = 1.0f / torch.tensor((float)RotaryBase).pow(torch.arange(0, headDim, 2, ScalarType.Float32) / headDim);
        var position = torch.arange(positions, ScalarType.Float32);
        // A product of two bf16 values is exact in fp32, so rounding it once gives the bf16 product.
        var theta = angles == RotaryAngles.Bf16
            ? Round(torch.outer(Round(position), Round(inverseFrequency)))
            : torch.outer(position, inverseFrequency);
        return (Round(theta.cos()).to_type(ScalarType.Float64), Round(theta.sin()).to_type(ScalarType.Float64));
    }

    /// <summary>The T × T table of what each query sees in the stream <paramref name="inputs"/>.</summary>
    public TTensor Visible(int[] inputs)
    {
        long t = inputs.Length;
        var position = arange(t, ScalarType.Int64);
        TTensor q = position.unsqueeze(1), k = position.unsqueeze(0);
        var visible = k.le(q);
        if (_options.DocumentTerm)
        {
            var documents = torch.tensor(inputs.Select(i => (long)i).ToArray()).eq(_endOfText).to_type(ScalarType.Int64).cumsum(0);
            visible = visible.logical_and(documents.unsqueeze(1).eq(documents.unsqueeze(0)));
        }
        if (_options.WindowTerm) visible = visible.logical_and((q - k).lt(Window));
        return visible;
    }

    TTensor Bf16(TTensor x) => _options.Bf16Compute ? Round(x) : x;

    static TTensor Round(TTensor x) => x.to_type(ScalarType.BFloat16).to_type(ScalarType.Float64);

    /// <summary>x·Wᵀ as <see cref="RotaryGptTwin"/> computes it under bf16: bf16 operands accumulated in float64, the
    /// product's gradient rounded to bf16.</summary>
    TTensor Linear(TTensor x, string weight)
    {
        var w = _p[weight];
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
        var idx = torch.tensor(inputs.Select(i => (long)i).ToArray());
        var x = Bf16(Rms(_p["wte.weight"].index_select(0, idx).view(1, t, c)));
        var x0 = x;
        // Record 14's value embeddings: one row of vte per token, Layers·Dim wide (bf16 values, used as they are).
        var ve = _options.Values == ValueMixing.ValueEmbeddings ? _p["vte.weight"].index_select(0, idx).view(1, t, -1) : null;
        TTensor? v1 = null;
        int encoder = _size.Layers / 2;
        var skips = new Stack<TTensor>();
        for (int l = 0; l < _size.Layers; l++)
        {
            if (l >= encoder) x = Bf16(x + _p["skip_weights"][l - encoder] * skips.Pop());
            var mixed = ve?.narrow(-1, (long)_options.ValueEmbeddingSlice(l) * c, c);
            (x, v1) = Block(l, x, x0, mixed ?? v1, hidden);
            if (l < encoder) skips.Push(x);
        }
        x = Bf16(Rms(x));
        var logits = Bf16(Linear(x, "lm_head.weight"));
        logits = Bf16(_options.Softcap * torch.tanh(logits / _options.Softcap));
        var tgt = torch.tensor(targets.Select(i => (long)i).ToArray());
        return nn.functional.cross_entropy(logits.view(-1, _size.Vocab), tgt);
    }

    /// <summary>One block; <paramref name="mixed"/> is what its values mix in (null in layer 0 of records 9-13, which
    /// mixes its own values and returns them as v1 for the later layers).</summary>
    (TTensor X, TTensor V1) Block(int l, TTensor x, TTensor x0, TTensor? mixed, TTensor hidden)
    {
        string h = $"h.{l}";
        x = Bf16(_p[$"{h}.lambdas"][0] * x + _p[$"{h}.lambdas"][1] * x0);
        var (y, v) = Attention(l, Bf16(Rms(x)), mixed, hidden);
        x = Bf16(x + Bf16(Linear(y, $"{h}.attn.c_proj.weight")));
        var mlp = Bf16(Linear(Bf16(Rms(x)), $"{h}.mlp.c_fc.weight"));
        mlp = Bf16(nn.functional.relu(mlp).square());
        x = Bf16(x + Bf16(Linear(mlp, $"{h}.mlp.c_proj.weight")));
        return (x, v);
    }

    /// <summary>Attention of the normed x (1, T, C) under the mask (<paramref name="hidden"/>: the pairs it hides), its
    /// values v mixed with <paramref name="mixed"/> (1, T, C) as v = (1 − λ)·v + λ·mixed (v itself when null).</summary>
    (TTensor Y, TTensor V1) Attention(int l, TTensor x, TTensor? mixed, TTensor hidden)
    {
        var (t, c, d) = (_size.SequenceLength, _size.Dim, _size.HeadDim);
        string a = $"h.{l}.attn";
        TTensor Heads(TTensor z) => z.reshape(1, t, c / d, d); // a value-embedding slice is a strided view
        var q = Bf16(Rotary(Bf16(Rms(Heads(Bf16(Linear(x, $"{a}.c_q.weight")))))));
        var k = Bf16(Rotary(Bf16(Rms(Heads(Bf16(Linear(x, $"{a}.c_k.weight")))))));
        var v = Heads(Bf16(Linear(x, $"{a}.c_v.weight")));
        var other = mixed is null ? v : Heads(mixed);
        var lambda = _p[$"{a}.lamb"];
        v = Bf16((1 - lambda) * v + lambda * other);
        var (qh, kh, vh) = (q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)); // (1, H, T, D)
        var scores = qh.matmul(kh.transpose(-2, -1)) / Math.Sqrt(d);
        var p = scores.masked_fill(hidden, double.NegativeInfinity).softmax(-1); // the diagonal is always visible
        var y = Bf16(p.matmul(vh));
        return (y.transpose(1, 2).contiguous().view(1, t, c), other);
    }
}
