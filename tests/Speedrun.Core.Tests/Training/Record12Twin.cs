using TorchSharp;
using static TorchSharp.torch;
using TTensor = TorchSharp.torch.Tensor;
using Parameter = TorchSharp.Modules.Parameter;

namespace Speedrun.Core.Tests.Training;

/// <summary>
/// Record 12's model written with TorchSharp ops in float64, from the weights of the record's own model (copied by
/// parameter name): record 11's bf16 U-net (as <see cref="RotaryGptTwin.Record11"/> computes it) on one stream of
/// tokens, with attention written out densely: scores = q·kᵀ/√D, every pair the mask hides set to −∞, softmax, times
/// v. The mask is built from the stream as a T × T table: causal (k ≤ q), same document (document ids = running
/// count of end-of-text tokens) and within the window (q − k &lt; window).
/// </summary>
sealed class Record12Twin
{
    /// <summary>What the twin computes (and what a mutation may change).</summary>
    public sealed record Options
    {
        /// <summary>Record 10's bf16 emulation (see <see cref="RotaryGptTwin.Architecture.Bf16Compute"/>).</summary>
        public bool Bf16Compute { get; init; } = true;
        /// <summary>Keys of another document hidden.</summary>
        public bool DocumentTerm { get; init; } = true;
        /// <summary>Keys at least the window back hidden.</summary>
        public bool WindowTerm { get; init; } = true;
    }

    const double RotaryBase = 10000;
    static readonly double NormEps = Math.Pow(2, -23);
    readonly OracleSizes _size;
    readonly int _window, _endOfText;
    readonly Options _options;
    readonly Dictionary<string, Parameter> _p;
    readonly TTensor _cos, _sin;

    public Record12Twin(OracleSizes size, int window, int endOfText, IEnumerable<(string Name, float[] Values, int[] Shape)> weights,
        Options options)
    {
        if (size.Batch != 1) throw new ArgumentException("Record 12 reads one stream: Batch must be 1.");
        (_size, _window, _endOfText, _options) = (size, window, endOfText, options);
        _p = weights.ToDictionary(
            w => w.Name,
            w => new Parameter(torch.tensor(w.Values.Select(v => (double)v).ToArray(), w.Shape.Select(d => (long)d).ToArray())));
        // The record's tables: fp32 angles t / base^(2i/D), cos and sin rounded to bf16.
        var inverseFrequency = 1.0f / torch.tensor((float)RotaryBase).pow(torch.arange(0, size.HeadDim, 2, ScalarType.Float32) / size.HeadDim);
        var angles = torch.outer(torch.arange(size.SequenceLength, ScalarType.Float32), inverseFrequency);
        TTensor Table(TTensor fp32) =>
            fp32.to_type(ScalarType.BFloat16).to_type(ScalarType.Float64).view(1, size.SequenceLength, 1, size.HeadDim / 2);
        (_cos, _sin) = (Table(angles.cos()), Table(angles.sin()));
    }

    /// <summary>Every parameter by the name the record's model gives it.</summary>
    public IReadOnlyDictionary<string, Parameter> Parameters => _p;

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
        if (_options.WindowTerm) visible = visible.logical_and((q - k).lt(_window));
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
        var idx = torch.tensor(inputs.Select(i => (long)i).ToArray(), [1, t]);
        var x = Bf16(Rms(_p["wte.weight"].index_select(0, idx.view(-1)).view(1, t, c)));
        var x0 = x;
        TTensor? v1 = null;
        int encoder = _size.Layers / 2;
        var skips = new Stack<TTensor>();
        for (int l = 0; l < _size.Layers; l++)
        {
            if (l >= encoder) x = Bf16(x + _p["skip_weights"][l - encoder] * skips.Pop());
            (x, v1) = Block(l, x, x0, v1, hidden);
            if (l < encoder) skips.Push(x);
        }
        x = Bf16(Rms(x));
        var logits = Bf16(Linear(x, "lm_head.weight"));
        logits = Bf16(30 * torch.tanh(logits / 30));
        var tgt = torch.tensor(targets.Select(i => (long)i).ToArray());
        return nn.functional.cross_entropy(logits.view(-1, _size.Vocab), tgt);
    }

    (TTensor X, TTensor V1) Block(int l, TTensor x, TTensor x0, TTensor? v1, TTensor hidden)
    {
        string h = $"h.{l}";
        x = Bf16(_p[$"{h}.lambdas"][0] * x + _p[$"{h}.lambdas"][1] * x0);
        var (y, v) = Attention(l, Bf16(Rms(x)), v1, hidden);
        x = Bf16(x + Bf16(Linear(y, $"{h}.attn.c_proj.weight")));
        var mlp = Bf16(Linear(Bf16(Rms(x)), $"{h}.mlp.c_fc.weight"));
        mlp = Bf16(nn.functional.relu(mlp).square());
        x = Bf16(x + Bf16(Linear(mlp, $"{h}.mlp.c_proj.weight")));
        return (x, v);
    }

    /// <summary>Attention of the normed x (1, T, C) under the mask (<paramref name="hidden"/>: the pairs it hides).</summary>
    (TTensor Y, TTensor V1) Attention(int l, TTensor x, TTensor? v1, TTensor hidden)
    {
        var (t, c, d) = (_size.SequenceLength, _size.Dim, _size.HeadDim);
        string a = $"h.{l}.attn";
        TTensor Heads(TTensor z) => z.view(1, t, c / d, d);
        var q = Bf16(Rotary(Bf16(Rms(Heads(Bf16(Linear(x, $"{a}.c_q.weight")))))));
        var k = Bf16(Rotary(Bf16(Rms(Heads(Bf16(Linear(x, $"{a}.c_k.weight")))))));
        var v = Heads(Bf16(Linear(x, $"{a}.c_v.weight")));
        v1 ??= v;
        var lambda = _p[$"{a}.lamb"];
        v = Bf16((1 - lambda) * v + lambda * v1);
        var (qh, kh, vh) = (q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)); // (1, H, T, D)
        var scores = qh.matmul(kh.transpose(-2, -1)) / Math.Sqrt(d);
        var p = scores.masked_fill(hidden, double.NegativeInfinity).softmax(-1); // the diagonal is always visible
        var y = Bf16(p.matmul(vh));
        return (y.transpose(1, 2).contiguous().view(1, t, c), v1);
    }
}
