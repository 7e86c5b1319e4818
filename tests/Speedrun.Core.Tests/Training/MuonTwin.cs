using TorchSharp;
using static TorchSharp.torch;
using TTensor = TorchSharp.torch.Tensor;
using Parameter = TorchSharp.Modules.Parameter;

namespace Speedrun.Core.Tests.Training;

/// <summary>
/// Muon as records 3 and 4 define it, written with TorchSharp in float64, bf16 emulated by rounding to bf16
/// (through fp32, as an fp32 accumulator is rounded) exactly where the records round. Per matrix:
/// buf = m·buf + g; direction = g + m·buf (Nesterov); W −= lr·scale·NS5(direction).
/// </summary>
sealed class MuonTwin
{
    /// <summary>What differs between the records (and what a mutation may change).</summary>
    public sealed record Options
    {
        /// <summary>Orthogonalise g + m·buf (true, the records) or buf alone.</summary>
        public bool Nesterov { get; init; } = true;
        /// <summary>NS5's (a, b, c); the records' values as the fp32 scalars a bf16 op computes with.</summary>
        public (double A, double B, double C) Coefficients { get; init; } = (3.4445f, -4.7750f, 2.0315f);
        /// <summary>Orthogonalise a (3C × C) matrix, the fused q/k/v, as three C × C blocks (record 4).</summary>
        public bool SplitQkv { get; init; }
        /// <summary>The factor on the lr of an orthogonalised (rows × cols) matrix or block.</summary>
        public Func<long, long, double> Scale { get; init; } = (_, _) => 1;
    }

    /// <summary>Record 3: one NS5 per matrix, no shape scale.</summary>
    public static Options Record3 { get; } = new();

    /// <summary>Record 4: the q/k/v blocks split, scale √max(rows, cols) (√C for each block).</summary>
    public static Options Record4 { get; } = new() { SplitQkv = true, Scale = (rows, cols) => Math.Sqrt(Math.Max(rows, cols)) };

    readonly List<(Parameter Param, TTensor Buffer)> _state;
    readonly double _lr, _momentum;
    readonly Options _options;

    public MuonTwin(IEnumerable<Parameter> parameters, double lr, double momentum, Options options)
    {
        _state = parameters.Select(p => (p, torch.zeros_like(p).detach())).ToList();
        (_lr, _momentum, _options) = (lr, momentum, options);
    }

    public void Step()
    {
        using var _ = torch.no_grad();
        foreach (var (p, buffer) in _state)
        {
            var g = p.grad!;
            buffer.mul_(_momentum).add_(g);
            var direction = _options.Nesterov ? g + _momentum * buffer : buffer;
            long rows = direction.shape[0], cols = direction.shape[1];
            TTensor update;
            double scale;
            if (_options.SplitQkv && rows == 3 * cols)
            {
                update = torch.cat(direction.split(cols, dim: 0).Select(NewtonSchulz5).ToArray(), dim: 0);
                scale = _options.Scale(cols, cols);
            }
            else
            {
                update = NewtonSchulz5(direction);
                scale = _options.Scale(rows, cols);
            }
            p.sub_(_lr * scale * update);
        }
    }

    static TTensor Bf16(TTensor x) => x.to_type(ScalarType.Float32).to_type(ScalarType.BFloat16).to_type(ScalarType.Float64);

    /// <summary>
    /// X = bf16(bf16(G) / (‖G‖ + 1e-7)), transposed when tall; five times A = bf16(X·Xᵀ), B = bf16(A·X),
    /// X = bf16(a·X + b·B + bf16(bf16(c·A)·B)): each product of bf16 operands accumulated in float64 (the
    /// records accumulate in fp32) and rounded, the element-wise sum rounded once (torch.compile fuses it).
    /// </summary>
    TTensor NewtonSchulz5(TTensor g)
    {
        var (a, b, c) = _options.Coefficients;
        var x = Bf16(Bf16(g) / (g.norm() + 1e-7));
        bool tall = g.shape[0] > g.shape[1];
        if (tall) x = x.t();
        for (int i = 0; i < 5; i++)
        {
            var A = Bf16(x.matmul(x.t()));
            var B = Bf16(A.matmul(x));
            x = Bf16(a * x + b * B + Bf16(Bf16(c * A).matmul(B)));
        }
        return tall ? x.t() : x;
    }
}
