using TorchSharp;
using static TorchSharp.torch;
using TTensor = TorchSharp.torch.Tensor;
using Parameter = TorchSharp.Modules.Parameter;

namespace Speedrun.Core.Tests.Training;

/// <summary>
/// Muon as records 3-11 define it, written with TorchSharp in float64, bf16 emulated by rounding to bf16
/// (through fp32, as an fp32 accumulator is rounded) exactly where the records round. Per matrix:
/// buf = m·buf + g; direction = g + m·buf (Nesterov); W −= lr·scale·NS5(direction) (records 6+: W −=
/// lr·bf16(scale·NS5(direction)), the update written to a bf16 buffer).
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
        /// <summary>NS5 normalises in bf16, X = bf16(G), X = bf16(X / bf16(bf16(‖X‖) + 1e-7)) (records 5+), rather
        /// than by G's own norm, X = bf16(bf16(G) / (‖G‖ + 1e-7)).</summary>
        public bool NormaliseInBf16 { get; init; }
        /// <summary>The scaled update rounded to bf16 before it is applied (records 6+: the flat bf16 buffer).</summary>
        public bool RoundUpdate { get; init; }
        /// <summary>NS5's step as B = b·A + (c·A)·A, X = a·X + B·X (records 11+) rather than B = A·X,
        /// X = a·X + b·B + (c·A)·B.</summary>
        public bool Reassociated { get; init; }
        /// <summary>Momentum as lerps (records 15+): buf ← lerp(buf, g, 1 − m), direction lerp(g, buf, m), rather than
        /// buf ← m·buf + g, direction g + m·buf. At a fixed m the lerp direction is (1 − m) times the other, which NS5's
        /// normalisation undoes; while m warms up the weights of past gradients differ.</summary>
        public bool LerpMomentum { get; init; }
        /// <summary>With <see cref="RoundUpdate"/>: the shape scale applied after the rounding, W −= lr·scale·bf16(NS5)
        /// (records 15+), rather than W −= lr·bf16(scale·NS5).</summary>
        public bool ScaleAfterRounding { get; init; }
        /// <summary>How a stack of matrices, (S, rows, cols), is orthogonalised (record 20's merged q/k/v, (3, C, C), scaled
        /// by <see cref="Scale"/>(rows, cols)).</summary>
        public StackedMatrices Stacked { get; init; } = StackedMatrices.Slices;
    }

    /// <summary>How Muon orthogonalises a stack of matrices (S, rows, cols).</summary>
    public enum StackedMatrices
    {
        /// <summary>Each slice by itself, normalised by its own norm (record 20's batched Newton-Schulz).</summary>
        Slices,
        /// <summary>Each slice by itself, all normalised by the norm of the whole stack.</summary>
        SlicesGlobalNorm,
        /// <summary>The stack as one (S·rows, cols) matrix.</summary>
        WholeMatrix,
    }

    /// <summary>Record 3: one NS5 per matrix, no shape scale.</summary>
    public static Options Record3 { get; } = new();

    /// <summary>Record 4: the q/k/v blocks split, scale √max(rows, cols) (√C for each block).</summary>
    public static Options Record4 { get; } = new() { SplitQkv = true, Scale = (rows, cols) => Math.Sqrt(Math.Max(rows, cols)) };

    /// <summary>Record 5: record 4 normalising in bf16 (it has no fused q/k/v left to split).</summary>
    public static Options Record5 { get; } = Record4 with { NormaliseInBf16 = true };

    /// <summary>Records 6-7: record 5 with each scaled update rounded to bf16.</summary>
    public static Options Record6 { get; } = Record5 with { RoundUpdate = true };

    /// <summary>Records 8-10: scale √max(1, rows/cols).</summary>
    public static Options Record8 { get; } = Record6 with { SplitQkv = false, Scale = (rows, cols) => Math.Sqrt(Math.Max(1.0, (double)rows / cols)) };

    /// <summary>Record 11: NS5 re-associated.</summary>
    public static Options Record11 { get; } = Record8 with { Reassociated = true };

    /// <summary>Records 15+: momentum as lerps, the shape scale applied after the update's bf16 rounding.</summary>
    public static Options Record15 { get; } = Record11 with { LerpMomentum = true, ScaleAfterRounding = true };

    readonly List<(Parameter Param, TTensor Buffer)> _state;
    readonly double _lr;
    readonly Options _options;

    public MuonTwin(IEnumerable<Parameter> parameters, double lr, double momentum, Options options)
    {
        _state = parameters.Select(p => (p, torch.zeros_like(p).detach())).ToList();
        (_lr, Momentum, _options) = (lr, momentum, options);
    }

    /// <summary>The momentum of the next step (records 9+ warm it up).</summary>
    public double Momentum { get; set; }

    public void Step()
    {
        using var _ = torch.no_grad();
        foreach (var (p, buffer) in _state)
        {
            var g = p.grad!;
            TTensor direction;
            if (_options.LerpMomentum)
            {
                buffer.add_(Times(1 - Momentum, g - buffer));
                direction = g + Times(Momentum, buffer - g);
            }
            else
            {
                using Scalar momentum = Momentum;
                buffer.mul_(momentum).add_(g);
                direction = _options.Nesterov ? g + Times(Momentum, buffer) : buffer;
            }
            long rows = direction.shape[^2], cols = direction.shape[^1];
            TTensor update;
            double scale;
            if (direction.dim() == 3) // record 20's merged q/k/v, (3, C, C)
                (update, scale) = (Stacked(direction), _options.Scale(rows, cols));
            else if (_options.SplitQkv && rows == 3 * cols)
            {
                update = torch.cat(direction.split(cols, dim: 0).Select(NewtonSchulz5).ToArray(), dim: 0);
                scale = _options.Scale(cols, cols);
            }
            else
            {
                update = NewtonSchulz5(direction);
                scale = _options.Scale(rows, cols);
            }
            if (_options.RoundUpdate && _options.ScaleAfterRounding) p.sub_(Times(_lr * scale, Bf16(update)));
            else if (_options.RoundUpdate) p.sub_(Times(_lr, Bf16(Times(scale, update))));
            else p.sub_(Times(_lr * scale, update));
        }
    }

    /// <summary>The update of a stack of S (rows × cols) matrices, (S, rows, cols), as <see cref="Options.Stacked"/>
    /// says.</summary>
    TTensor Stacked(TTensor g) => _options.Stacked switch
    {
        StackedMatrices.Slices => torch.stack(g.unbind(0).Select(NewtonSchulz5).ToArray()),
        StackedMatrices.SlicesGlobalNorm => torch.stack(g.unbind(0).Select(s => NewtonSchulz5Normalised(s, Bf16(g).norm())).ToArray()),
        _ => NewtonSchulz5(g.reshape(-1, g.shape[^1])).view_as(g),
    };

    // k·x and x + k with k in a Scalar held here until the op returns. TorchSharp's own double overloads make the
    // Scalar inside the library, where a collection from a parallel test can finalize it while the native op reads
    // it (CI of 2026-12-02: "Expected false to be true" in Scalar::toDouble, at x / (‖x‖ + 1e-7) in NS5). Same ops,
    // same values.
    static TTensor Times(double k, TTensor x)
    {
        using Scalar s = k;
        return x.mul(s);
    }

    static TTensor Plus(TTensor x, double k)
    {
        using Scalar s = k, one = 1;
        return x.add(s, one);
    }

    static TTensor Bf16(TTensor x) => x.to_type(ScalarType.Float32).to_type(ScalarType.BFloat16).to_type(ScalarType.Float64);

    /// <summary>
    /// X = bf16(bf16(G) / (‖G‖ + 1e-7)) (or normalised in bf16), transposed when tall; five times A = bf16(X·Xᵀ),
    /// B = bf16(A·X), X = bf16(a·X + b·B + bf16(bf16(c·A)·B)) (or B = bf16(b·A + bf16(bf16(c·A)·A)),
    /// X = bf16(a·X + bf16(B·X))): each product of bf16 operands accumulated in float64 (the records accumulate
    /// in fp32) and rounded, each element-wise sum rounded once (torch.compile fuses it).
    /// </summary>
    TTensor NewtonSchulz5(TTensor g) => NewtonSchulz5Normalised(g, null);

    /// <summary>NS5 as above, normalised by <paramref name="norm"/> (‖bf16(G)‖ of a larger tensor G is a slice of) when
    /// given.</summary>
    TTensor NewtonSchulz5Normalised(TTensor g, TTensor? norm)
    {
        var (a, b, c) = _options.Coefficients;
        var x = Bf16(g);
        x = _options.NormaliseInBf16 ? Bf16(x / Bf16(Plus(Bf16(norm ?? x.norm()), 1e-7))) : Bf16(x / Plus(norm ?? g.norm(), 1e-7));
        bool tall = g.shape[0] > g.shape[1];
        if (tall) x = x.t();
        for (int i = 0; i < 5; i++)
        {
            var A = Bf16(x.matmul(x.t()));
            if (_options.Reassociated)
            {
                var B = Bf16(Times(b, A) + Bf16(Bf16(Times(c, A)).matmul(A)));
                x = Bf16(Times(a, x) + Bf16(B.matmul(x)));
            }
            else
            {
                var B = Bf16(A.matmul(x));
                x = Bf16(Times(a, x) + Times(b, B) + Bf16(Bf16(Times(c, A)).matmul(B)));
            }
        }
        return tall ? x.t() : x;
    }
}
