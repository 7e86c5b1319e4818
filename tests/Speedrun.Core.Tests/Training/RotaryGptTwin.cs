using TorchSharp;
using static TorchSharp.torch;
using TTensor = TorchSharp.torch.Tensor;
using Parameter = TorchSharp.Modules.Parameter;

namespace Speedrun.Core.Tests.Training;

/// <summary>
/// The GPT of records 2-4 written with TorchSharp ops in float64, from the weights of a record's own model
/// (copied by parameter name): pre-norm weightless RMSNorm (eps 1e-6), attention branch scaled by
/// 1/√(2·layers), rotary embeddings on q and k, no position embedding, exact-erf GELU, tied embedding/head.
/// </summary>
sealed class RotaryGptTwin
{
    const double RotaryBase = 10000, NormEps = 1e-6;
    readonly OracleSizes _size;
    readonly Dictionary<string, Parameter> _p;
    readonly TTensor _cos, _sin;
    readonly double _rotation;

    /// <param name="rotation">−1: each pair is rotated by −θ, as the records do (y1 = x1·cos + x2·sin,
    /// y2 = −x1·sin + x2·cos); +1 rotates by +θ (a mutation the tests must catch).</param>
    public RotaryGptTwin(OracleSizes size, IEnumerable<(string Name, float[] Values, int[] Shape)> weights, double rotation = -1)
    {
        _size = size;
        _rotation = rotation;
        _p = weights.ToDictionary(
            w => w.Name,
            w => new Parameter(torch.tensor(w.Values.Select(v => (double)v).ToArray(), w.Shape.Select(d => (long)d).ToArray())));
        // The record's tables, in fp32 as it builds them: inv_freq = 1/base^(2i/D), angles t·inv_freq, cos and sin.
        var inverseFrequency = 1.0f / torch.tensor((float)RotaryBase).pow(torch.arange(0, size.HeadDim, 2, ScalarType.Float32) / size.HeadDim);
        var angles = torch.outer(torch.arange(size.SequenceLength, ScalarType.Float32), inverseFrequency);
        _cos = angles.cos().to_type(ScalarType.Float64).view(1, size.SequenceLength, 1, size.HeadDim / 2);
        _sin = angles.sin().to_type(ScalarType.Float64).view(1, size.SequenceLength, 1, size.HeadDim / 2);
    }

    /// <summary>Every parameter by the name the record's model gives it.</summary>
    public IReadOnlyDictionary<string, Parameter> Parameters => _p;

    static TTensor Rms(TTensor x) => x * torch.rsqrt(x.pow(2).mean([-1], keepdim: true) + NormEps);

    /// <summary>x (B, T, H, D): dims i and i + D/2 form a pair, rotated by rotation·θ(t, i).</summary>
    TTensor Rotary(TTensor x)
    {
        var halves = x.chunk(2, dim: -1);
        var (x1, x2) = (halves[0], halves[1]);
        var sin = -_rotation * _sin;
        return torch.cat([x1 * _cos + x2 * sin, x2 * _cos - x1 * sin], dim: -1);
    }

    /// <summary>Mean next-token cross-entropy of a batch, as the record's Gpt.Loss.</summary>
    public TTensor Loss(int[] inputs, int[] targets)
    {
        var (b, t, c, h) = (_size.Batch, _size.SequenceLength, _size.Dim, _size.Dim / _size.HeadDim);
        var idx = torch.tensor(inputs.Select(i => (long)i).ToArray(), [b, t]);
        var x = _p["wte.weight"].index_select(0, idx.view(-1)).view(b, t, c);
        for (int l = 0; l < _size.Layers; l++)
        {
            var qkv = Rms(x).matmul(_p[$"h.{l}.attn.c_attn.weight"].t()).split(c, dim: -1);
            TTensor Heads(TTensor z) => z.view(b, t, h, _size.HeadDim);
            var (q, k, v) = (Rotary(Heads(qkv[0])), Rotary(Heads(qkv[1])), Heads(qkv[2]));
            var att = nn.functional.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_casual: true);
            var y = att.transpose(1, 2).contiguous().view(b, t, c).matmul(_p[$"h.{l}.attn.c_proj.weight"].t());
            x = x + y / Math.Sqrt(2 * _size.Layers);
            var hidden = nn.functional.gelu(Rms(x).matmul(_p[$"h.{l}.mlp.c_fc.weight"].t()));
            x = x + hidden.matmul(_p[$"h.{l}.mlp.c_proj.weight"].t());
        }
        var logits = Rms(x).matmul(_p["wte.weight"].t());
        var tgt = torch.tensor(targets.Select(i => (long)i).ToArray());
        return nn.functional.cross_entropy(logits.view(-1, _size.Vocab), tgt);
    }
}
