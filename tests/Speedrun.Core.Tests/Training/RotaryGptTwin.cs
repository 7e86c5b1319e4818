using TorchSharp;
using static TorchSharp.torch;
using TTensor = TorchSharp.torch.Tensor;
using Parameter = TorchSharp.Modules.Parameter;

namespace Speedrun.Core.Tests.Training;

/// <summary>
/// The GPT of records 2-11 written with TorchSharp ops in float64, from the weights of a record's own model
/// (copied by parameter name). <see cref="Architecture"/> says which record's model it is; records 2-4 are the
/// default: pre-norm weightless RMSNorm (eps 1e-6), attention branch scaled by 1/√(2·layers), rotary embeddings
/// on q and k, no position embedding, exact-erf GELU, tied embedding/head.
/// </summary>
sealed class RotaryGptTwin
{
    /// <summary>Where QK-norm (a weightless RMSNorm over each head) sits relative to rotary.</summary>
    public enum QkNormPlace { None, AfterRotary, BeforeRotary }

    /// <summary>The MLP's activation.</summary>
    public enum Activation { GeluErf, ReluSquared }

    /// <summary>What differs between the records' models (and what a mutation may change).</summary>
    public sealed record Architecture
    {
        /// <summary>−1: each pair is rotated by −θ, as the records do (y1 = x1·cos + x2·sin, y2 = −x1·sin +
        /// x2·cos); +1 rotates by +θ.</summary>
        public double Rotation { get; init; } = -1;
        /// <summary>The rotary cos/sin tables rounded to bf16 after computing them in fp32 (records 5+).</summary>
        public bool Bf16RotaryTables { get; init; }
        /// <summary>The eps of every RMSNorm: 1e-6 (records 2-4), or F.rms_norm's default, float32's machine
        /// epsilon 2^-23 (records 5+).</summary>
        public double NormEps { get; init; } = 1e-6;
        /// <summary>The attention branch scaled by 1/√(2·layers) (records 2-4).</summary>
        public bool ScaledAttentionBranch { get; init; } = true;
        /// <summary>q, k, v from c_q, c_k, c_v (records 5+) rather than one c_attn.</summary>
        public bool SeparateQkv { get; init; }
        public QkNormPlace QkNorm { get; init; } = QkNormPlace.None;
        public Activation Mlp { get; init; } = Activation.GeluErf;
        /// <summary>A separate lm_head (records 8+) rather than the head tied to the embedding.</summary>
        public bool UntiedHead { get; init; }
        /// <summary>A weightless RMSNorm right after the embedding lookup (records 8+).</summary>
        public bool NormAfterEmbedding { get; init; }
        /// <summary>Each block starts with x = λ0·x + λ1·x0, x0 the (normed) embedding (records 9+).</summary>
        public bool X0Shortcut { get; init; }
        /// <summary>v = (1 − λ)·v + λ·v1, v1 layer 0's values (records 9+).</summary>
        public bool ValueResidual { get; init; }
        /// <summary>Logits capped as c·tanh(z/c) (c = 30 in records 9+).</summary>
        public double? Softcap { get; init; }
        /// <summary>U-net (record 11): the first half of the blocks push their outputs, decoder block i first adds
        /// w_i times a popped one.</summary>
        public bool UNet { get; init; }
        /// <summary>Decoder block i takes the last encoder output not yet taken (true, a stack) or the first.</summary>
        public bool SkipsLastInFirstOut { get; init; } = true;
        /// <summary>
        /// Record 10's bf16 compute: values rounded to bf16 (with their gradients) wherever the program writes
        /// Bf16(...); products with bf16 operands accumulated in float64, their incoming gradient rounded to bf16
        /// (as the program's Linear under MatmulPrecision.BF16 rounds dy, W and x before each fp32-accumulated GEMM).
        /// </summary>
        public bool Bf16Compute { get; init; }
        /// <summary>With <see cref="Bf16Compute"/>: the residual stream rounded after each branch is added.</summary>
        public bool RoundResidualStream { get; init; } = true;
        /// <summary>With <see cref="Bf16Compute"/>: the fp32 master weights rounded to bf16 for each product (the
        /// program's CastedLinear), rather than used as they are.</summary>
        public bool Bf16Weights { get; init; } = true;
    }

    /// <summary>Records 2-4.</summary>
    public static Architecture Records2To4 { get; } = new();

    /// <summary>Record 5: separate q/k/v, rotary (bf16 tables) then QK-norm, ReLU², no branch scale, eps 2^-23.</summary>
    public static Architecture Record5 { get; } = new()
    {
        Bf16RotaryTables = true, NormEps = Math.Pow(2, -23), ScaledAttentionBranch = false, SeparateQkv = true,
        QkNorm = QkNormPlace.AfterRotary, Mlp = Activation.ReluSquared,
    };

    /// <summary>Record 8: record 5 with the head untied and a norm after the embedding; QK-norm before rotary
    /// (from record 6 on, whose other changes are Muon's).</summary>
    public static Architecture Record8 { get; } = Record5 with { UntiedHead = true, NormAfterEmbedding = true, QkNorm = QkNormPlace.BeforeRotary };

    /// <summary>Record 9: the x0 shortcut, the value residual and softcap 30.</summary>
    public static Architecture Record9 { get; } = Record8 with { X0Shortcut = true, ValueResidual = true, Softcap = 30 };

    /// <summary>Record 10: record 9 computed in bf16.</summary>
    public static Architecture Record10 { get; } = Record9 with { Bf16Compute = true };

    /// <summary>Record 11: record 10 as a U-net.</summary>
    public static Architecture Record11 { get; } = Record10 with { UNet = true };

    const double RotaryBase = 10000;
    readonly OracleSizes _size;
    readonly Architecture _arch;
    readonly Dictionary<string, Parameter> _p;
    readonly TTensor _cos, _sin;

    public RotaryGptTwin(OracleSizes size, IEnumerable<(string Name, float[] Values, int[] Shape)> weights, Architecture architecture)
    {
        _size = size;
        _arch = architecture;
        _p = weights.ToDictionary(
            w => w.Name,
            w => new Parameter(torch.tensor(w.Values.Select(v => (double)v).ToArray(), w.Shape.Select(d => (long)d).ToArray())));
        // The record's tables, in fp32 as it builds them: inv_freq = 1/base^(2i/D), angles t·inv_freq, cos and sin.
        var inverseFrequency = 1.0f / torch.tensor((float)RotaryBase).pow(torch.arange(0, size.HeadDim, 2, ScalarType.Float32) / size.HeadDim);
        var angles = torch.outer(torch.arange(size.SequenceLength, ScalarType.Float32), inverseFrequency);
        TTensor Table(TTensor fp32) =>
            (architecture.Bf16RotaryTables ? fp32.to_type(ScalarType.BFloat16) : fp32).to_type(ScalarType.Float64)
                .view(1, size.SequenceLength, 1, size.HeadDim / 2);
        (_cos, _sin) = (Table(angles.cos()), Table(angles.sin()));
    }

    /// <summary>Every parameter by the name the record's model gives it.</summary>
    public IReadOnlyDictionary<string, Parameter> Parameters => _p;

    /// <summary>x rounded to the nearest bf16, and its gradient likewise (a bf16 tensor and its bf16 gradient),
    /// under <see cref="Architecture.Bf16Compute"/>; x itself otherwise.</summary>
    TTensor Bf16(TTensor x) => _arch.Bf16Compute ? Round(x) : x;

    static TTensor Round(TTensor x) => x.to_type(ScalarType.BFloat16).to_type(ScalarType.Float64);

    /// <summary>x (B, T, C) times Wᵀ for W (out, C). Under bf16 compute: bf16(x)·bf16(W)ᵀ accumulated in float64, the
    /// gradient of the product rounded to bf16 before it reaches either operand, which pass it on unrounded.</summary>
    TTensor Linear(TTensor x, string weight)
    {
        var w = _p[weight];
        if (!_arch.Bf16Compute) return x.matmul(w.t());
        static TTensor RoundForward(TTensor z) => z + (Round(z) - z).detach(); // exact: z + (bf16(z) − z) = bf16(z)
        var y = RoundForward(x).matmul((_arch.Bf16Weights ? RoundForward(w) : w).t());
        var rounded = Round(y);
        return y.detach() + (rounded - rounded.detach()); // forward y; backward bf16(dy)
    }

    TTensor Rms(TTensor x) => x * torch.rsqrt(x.pow(2).mean([-1], keepdim: true) + _arch.NormEps);

    /// <summary>x (B, T, H, D): dims i and i + D/2 form a pair, rotated by rotation·θ(t, i).</summary>
    TTensor Rotary(TTensor x)
    {
        var halves = x.chunk(2, dim: -1);
        var (x1, x2) = (halves[0], halves[1]);
        var sin = -_arch.Rotation * _sin;
        return torch.cat([x1 * _cos + x2 * sin, x2 * _cos - x1 * sin], dim: -1);
    }

    /// <summary>QK-norm and rotary on q or k (B, T, H, D) in the architecture's order.</summary>
    TTensor PositionAndNorm(TTensor x) => _arch.QkNorm switch
    {
        QkNormPlace.AfterRotary => Bf16(Rms(Bf16(Rotary(x)))),
        QkNormPlace.BeforeRotary => Bf16(Rotary(Bf16(Rms(x)))),
        _ => Rotary(x),
    };

    /// <summary>Mean next-token cross-entropy of a batch, as the record's Gpt.Loss.</summary>
    public TTensor Loss(int[] inputs, int[] targets)
    {
        var (b, t, c) = (_size.Batch, _size.SequenceLength, _size.Dim);
        var idx = torch.tensor(inputs.Select(i => (long)i).ToArray(), [b, t]);
        var x = _p["wte.weight"].index_select(0, idx.view(-1)).view(b, t, c);
        if (_arch.NormAfterEmbedding) x = Bf16(Rms(x));
        var x0 = x;
        TTensor? v1 = null;
        int encoder = _arch.UNet ? _size.Layers / 2 : _size.Layers;
        var skips = new List<TTensor>();
        for (int l = 0; l < _size.Layers; l++)
        {
            if (l >= encoder)
            {
                int i = l - encoder;
                var skip = _arch.SkipsLastInFirstOut ? skips[^1] : skips[0];
                skips.Remove(skip);
                x = Bf16(x + _p["skip_weights"][i] * skip); // one fused chain, one rounding
            }
            (x, v1) = Block(l, x, x0, v1);
            if (l < encoder && _arch.UNet) skips.Add(x);
        }
        x = Bf16(Rms(x));
        var logits = Bf16(Linear(x, _arch.UntiedHead ? "lm_head.weight" : "wte.weight"));
        if (_arch.Softcap is double cap) logits = Bf16(cap * torch.tanh(logits / cap));
        var tgt = torch.tensor(targets.Select(i => (long)i).ToArray());
        return nn.functional.cross_entropy(logits.view(-1, _size.Vocab), tgt);
    }

    (TTensor X, TTensor? V1) Block(int l, TTensor x, TTensor x0, TTensor? v1)
    {
        string h = $"h.{l}";
        if (_arch.X0Shortcut) x = Bf16(_p[$"{h}.lambdas"][0] * x + _p[$"{h}.lambdas"][1] * x0);
        var (y, v) = Attention(l, Bf16(Rms(x)), v1);
        var branch = Bf16(Linear(y, $"{h}.attn.c_proj.weight"));
        if (_arch.ScaledAttentionBranch) branch = branch / Math.Sqrt(2 * _size.Layers);
        x = Residual(x + branch);
        var hidden = Bf16(Linear(Bf16(Rms(x)), $"{h}.mlp.c_fc.weight"));
        hidden = Bf16(_arch.Mlp == Activation.ReluSquared ? nn.functional.relu(hidden).square() : nn.functional.gelu(hidden));
        x = Residual(x + Bf16(Linear(hidden, $"{h}.mlp.c_proj.weight")));
        return (x, v);
    }

    TTensor Residual(TTensor x) => _arch.RoundResidualStream ? Bf16(x) : x;

    /// <summary>Causal self-attention of the normed x (B, T, C); returns the heads merged (B, T, C) and v1.</summary>
    (TTensor Y, TTensor? V1) Attention(int l, TTensor x, TTensor? v1)
    {
        var (b, t, c, d) = (_size.Batch, _size.SequenceLength, _size.Dim, _size.HeadDim);
        string a = $"h.{l}.attn";
        TTensor Heads(TTensor z) => z.view(b, t, c / d, d);
        TTensor q, k, v;
        if (_arch.SeparateQkv)
            (q, k, v) = (Bf16(Linear(x, $"{a}.c_q.weight")), Bf16(Linear(x, $"{a}.c_k.weight")), Bf16(Linear(x, $"{a}.c_v.weight")));
        else
        {
            var qkv = Linear(x, $"{a}.c_attn.weight").split(c, dim: -1);
            (q, k, v) = (qkv[0], qkv[1], qkv[2]);
        }
        (q, k, v) = (PositionAndNorm(Heads(q)), PositionAndNorm(Heads(k)), Heads(v));
        if (_arch.ValueResidual)
        {
            v1 ??= v;
            var lambda = _p[$"{a}.lamb"];
            v = Bf16((1 - lambda) * v + lambda * v1);
        }
        var y = Bf16(nn.functional.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_casual: true));
        return (y.transpose(1, 2).contiguous().view(b, t, c), v1);
    }
}
