using TorchSharp;
using static TorchSharp.torch;
using TTensor = TorchSharp.torch.Tensor;

namespace Speedrun.Tests.Torch;

/// <summary>
/// The TorchSharp expression of each op spec (src/Speedrun.Benchmark/OpSpecs), keyed by the spec's name: the
/// tests evaluate it in float64 as the reference, the benchmarks in float32 as the baseline. Inputs come in the
/// spec's order (token ids as int64).
/// </summary>
public static class TorchOps
{
    static TTensor Rms(TTensor x, double eps) => x * torch.rsqrt(x.pow(2).mean([-1], keepdim: true) + eps);

    static TTensor Causal(TTensor q, TTensor k, TTensor v, bool causal, double? scale)
    {
        long t = q.shape[2];
        var scores = q.matmul(k.transpose(-2, -1)) * (scale ?? 1.0 / Math.Sqrt(q.shape[3]));
        if (causal) scores = MaskedFill(scores, ones(t, t, ScalarType.Bool, device: q.device).triu(1), double.NegativeInfinity);
        return scores.softmax(-1).matmul(v);
    }

    /// <summary>Attention under an element mask built densely in float64: causal, same document (ids == 0 start
    /// a document), q − k &lt; window, rows q % silentEvery == silentEvery − 1 hidden, documents of alignedSpan
    /// positions. Rows that see nothing give 0.</summary>
    static TTensor Masked(TTensor q, TTensor k, TTensor v, TTensor? ids, bool causal = true, int window = 0, int silentEvery = 0,
        int alignedSpan = 0, double? scale = null)
    {
        long t = q.shape[2];
        var position = arange(t, ScalarType.Int64);
        TTensor qi = position.unsqueeze(1), ki = position.unsqueeze(0);
        var visible = ones(t, t, ScalarType.Bool);
        if (causal) visible = visible.logical_and(ki.le(qi));
        if (ids is not null)
        {
            var documents = ids.eq(0).to_type(ScalarType.Int64).cumsum(0);
            visible = visible.logical_and(documents.unsqueeze(1).eq(documents.unsqueeze(0)));
        }
        if (window > 0) visible = visible.logical_and((qi - ki).lt(window));
        if (silentEvery > 0) visible = visible.logical_and(qi.remainder(silentEvery).ne(silentEvery - 1));
        if (alignedSpan > 0) visible = visible.logical_and(qi.div(alignedSpan, rounding_mode: RoundingMode.floor).eq(ki.div(alignedSpan, rounding_mode: RoundingMode.floor)));
        var scores = q.matmul(k.transpose(-2, -1)) * (scale ?? 1.0 / Math.Sqrt(q.shape[3]));
        var p = MaskedFill(scores, visible.logical_not(), -1e300).softmax(-1);
        var seesAny = visible.any(-1, keepdim: true).to_type(ScalarType.Float64);
        return (p * seesAny).matmul(v);
    }

    /// <summary>masked_fill with a fill value held alive until the call returns. Passed as a temporary Scalar, the
    /// optimising JIT may let it die as soon as its handle is read, and its finalizer can free it mid-call: a CI run
    /// (2026-12-01) failed in libtorch's Scalar::toDouble ("Expected false to be true") on the -1e300 below.</summary>
    public static TTensor MaskedFill(TTensor x, TTensor mask, double value)
    {
        using var fill = value.ToScalar();
        var result = x.masked_fill(mask, fill);
        GC.KeepAlive(fill);
        return result;
    }

    // The engine has no 0-dim tensors: a full reduction has shape (1).
    static TTensor AtLeast1D(TTensor t) => t.dim() == 0 ? t.reshape(1) : t;

    /// <summary>Spec name → reference.</summary>
    public static IReadOnlyDictionary<string, Func<TTensor[], TTensor[]>> Reference { get; } = new Dictionary<string, Func<TTensor[], TTensor[]>>
    {
        ["matmul"] = x => [x[0].matmul(x[1])],
        ["matmul_batched"] = x => [x[0].matmul(x[1])],
        ["linear"] = x => [nn.functional.linear(x[0], x[1])],
        ["add"] = x => [x[0] + x[1]],
        ["sub"] = x => [x[0] - x[1]],
        ["mul"] = x => [x[0] * x[1]],
        ["div"] = x => [x[0] / x[1]],
        ["affine"] = x => [2.5 * x[0] - 1.0],
        ["square"] = x => [x[0].square()],
        ["relu"] = x => [nn.functional.relu(x[0])],
        ["tanh"] = x => [x[0].tanh()],
        ["sigmoid"] = x => [x[0].sigmoid()],
        ["exp"] = x => [x[0].exp()],
        ["sqrt"] = x => [x[0].sqrt()],
        ["round_bf16"] = x => [x[0].to_type(ScalarType.BFloat16).to_type(x[0].dtype)],
        ["gelu"] = x => [nn.functional.gelu(x[0])],
        ["gelu_tanh"] = x => [nn.functional.gelu(x[0], TorchSharp.Modules.GELU.Approximate.tanh)],
        ["softmax"] = x => [x[0].softmax(-1)],
        ["transpose_1_2"] = x => [x[0].transpose(1, 2)],
        ["transpose_0_2"] = x => [x[0].transpose(0, 2)],
        ["split"] = x => x[0].split([2L, 3L, 4L], -1),
        ["split_dim1"] = x => x[0].split([1L, 2L], 1),
        ["cat"] = x => [torch.cat([x[0], x[1]], -1)],
        ["cat_dim0"] = x => [torch.cat([x[0], x[1]], 0)],
        ["narrow_rows"] = x => [x[0].narrow(0, 1, 2)],
        ["narrow_last"] = x => [x[0].narrow(-1, 2, 3)],
        ["sum"] = x => [x[0].sum().reshape(1)],
        ["sum_last"] = x => [AtLeast1D(x[0].sum(-1))],
        ["mean"] = x => [x[0].mean().reshape(1)],
        ["mean_last"] = x => [x[0].mean([-1L], keepdim: true)],
        ["norm"] = x => [x[0].norm().reshape(1)],
        ["embedding"] = x => [x[1].index_select(0, x[0].reshape(-1)).reshape([.. x[0].shape, x[1].shape[1]])],
        ["rms_norm"] = x => [Rms(x[0], 1.1920928955078125e-07)],
        ["rms_norm_weight"] = x => [Rms(x[0], 1e-6) * x[1]],
        ["layer_norm"] = x => [nn.functional.layer_norm(x[0], [x[0].shape[^1]], x[1], x[2], 1e-5)],
        ["sdpa_causal"] = x => [Causal(x[0], x[1], x[2], causal: true, scale: null)],
        ["sdpa"] = x => [Causal(x[0], x[1], x[2], causal: false, scale: null)],
        ["sdpa_causal_scale"] = x => [Causal(x[0], x[1], x[2], causal: true, scale: 0.12)],
        ["flex_document"] = x => [Masked(x[0], x[1], x[2], x[3])],
        ["flex_document_block32"] = x => [Masked(x[0], x[1], x[2], x[3])],
        ["flex_document_scale"] = x => [Masked(x[0], x[1], x[2], x[3], scale: 0.12)],
        ["flex_window_one_block"] = x => [Masked(x[0], x[1], x[2], null, window: 16)],
        ["flex_document_window"] = x => [Masked(x[0], x[1], x[2], x[3], window: 24)],
        ["flex_diagonal"] = x => [Masked(x[0], x[1], x[2], null, window: 1)],
        ["flex_silent_rows"] = x => [Masked(x[0], x[1], x[2], null, silentEvery: 7)],
        ["flex_aligned_documents"] = x => [Masked(x[0], x[1], x[2], null, causal: false, alignedSpan: 32)],
        ["cross_entropy"] = x => [nn.functional.cross_entropy(x[0], x[1]).reshape(1)],
        ["cross_entropy_classes"] = x => [nn.functional.cross_entropy(x[0].narrow(-1, 0, 13), x[1]).reshape(1)],
    };
}
