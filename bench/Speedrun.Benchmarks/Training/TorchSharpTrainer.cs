using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using TTensor = TorchSharp.torch.Tensor;

namespace Speedrun.Benchmarks.Training;

/// <summary>
/// Record 1's model written with TorchSharp ops in float32 (libtorch on the CPU), as modded-nanogpt's first
/// train_gpt2.py writes it: token + position embedding, per block a pre-norm weightless RMSNorm, fused qkv,
/// scaled_dot_product_attention(is_causal), the attention branch scaled by 1/sqrt(2·layers), an exact-erf
/// GELU MLP, then the final RMSNorm and the tied head into cross_entropy. Trained with torch.optim.AdamW and
/// nn.utils.clip_grad_norm_, starting from the weights it is given.
/// </summary>
sealed class TorchSharpTrainer : IDisposable
{
    readonly TinyRecordOne _run;
    readonly Dictionary<string, Parameter> _p = new();
    readonly List<Parameter> _parameters = new();
    readonly optim.Optimizer _optimizer;
    readonly TTensor _inputs, _targets;

    public TorchSharpTrainer(TinyRecordOne run, IEnumerable<(string Name, float[] Values, int[] Shape)> weights)
    {
        _run = run;
        foreach (var (name, values, shape) in weights)
        {
            var p = new Parameter(torch.tensor(values, shape.Select(d => (long)d).ToArray()));
            _p[name] = p;
            _parameters.Add(p);
        }
        _optimizer = optim.AdamW(_parameters, run.LearningRate, 0.9, 0.95, 1e-8, run.WeightDecay);
        _inputs = torch.tensor(run.Batch.Inputs.Select(t => (long)t).ToArray());
        _targets = torch.tensor(run.Batch.Targets.Select(t => (long)t).ToArray());
    }

    static TTensor RmsNorm(TTensor x) => x * torch.rsqrt(x.pow(2).mean([-1], keepdim: true) + 1e-6);

    TTensor Loss()
    {
        int b = _run.MicroBatch, t = _run.SequenceLength, c = _run.Dim, heads = c / _run.HeadDim;
        var x = _p["wte.weight"].index_select(0, _inputs).view(b, t, c) + _p["wpe.weight"][..t]; // the embedding gather
        for (int l = 0; l < _run.Layers; l++)
        {
            string h = $"h.{l}.";
            var qkv = nn.functional.linear(RmsNorm(x), _p[h + "attn.c_attn.weight"]).split(c, -1);
            TTensor Heads(TTensor part) => part.view(b, t, heads, _run.HeadDim).transpose(1, 2);
            var y = nn.functional.scaled_dot_product_attention(Heads(qkv[0]), Heads(qkv[1]), Heads(qkv[2]), is_casual: true);
            y = nn.functional.linear(y.transpose(1, 2).contiguous().view(b, t, c), _p[h + "attn.c_proj.weight"]);
            x = x + y * (1.0 / Math.Sqrt(2 * _run.Layers));
            var hidden = nn.functional.gelu(nn.functional.linear(RmsNorm(x), _p[h + "mlp.c_fc.weight"]));
            x = x + nn.functional.linear(hidden, _p[h + "mlp.c_proj.weight"]);
        }
        var logits = nn.functional.linear(RmsNorm(x), _p["wte.weight"]); // tied head
        return nn.functional.cross_entropy(logits.view(-1, _run.Vocab), _targets);
    }

    /// <summary>The loss of the fixed batch (read on the host); with <paramref name="backward"/> also the
    /// gradients, with <paramref name="update"/> also clip_grad_norm_ and the AdamW step.</summary>
    public float Step(bool backward, bool update)
    {
        using var scope = torch.NewDisposeScope();
        if (backward) _optimizer.zero_grad();
        float loss = 0;
        for (int micro = 0; micro < _run.Accumulation; micro++)
        {
            var l = Loss();
            if (backward) (l / _run.Accumulation).backward();
            loss += l.item<float>() / _run.Accumulation;
        }
        if (update)
        {
            nn.utils.clip_grad_norm_(_parameters, _run.GradClip);
            _optimizer.step();
        }
        return loss;
    }

    public void Dispose()
    {
        _optimizer.Dispose();
        foreach (var p in _parameters) p.Dispose();
        _inputs.Dispose();
        _targets.Dispose();
    }
}
