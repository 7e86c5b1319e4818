using Speedrun.Core.Autograd.Functions;
using Speedrun.Kernels.Ops;

namespace Speedrun.Core.Autograd;

/// <summary>
/// The differentiable ops a training program calls, named as in torch / torch.nn.functional. Each is a
/// <see cref="Function"/> in Functions/ (forward and backward side by side) over the engine's kernels.
/// Tensors here are contiguous and row-major; ops that would be strided views in PyTorch (transpose, split)
/// return copies. Element-wise ops broadcast a smaller operand over leading dimensions (see <see cref="Add"/>).
/// </summary>
public static class F
{
    // ---- products ----

    /// <summary>torch.matmul: a (..., M, K) times b (K, N) or (..., K, N) with a's leading dims → (..., M, N).
    /// Precision follows <see cref="Autocast"/>.</summary>
    public static Tensor Matmul(Tensor a, Tensor b) => new Matmul().Apply(a, b);

    /// <summary>F.linear without bias: x (..., in) · weightᵀ for a weight of shape (out, in). With
    /// <paramref name="padTo"/> &gt; 1 the output's last dim is rounded up to a multiple of it (e.g. 50257 → 50304)
    /// so GEMMs see aligned sizes; the padding columns hold no values (pass <c>classes</c> to
    /// <see cref="CrossEntropy"/>). Precision follows <see cref="Autocast"/>.</summary>
    public static Tensor Linear(Tensor x, Tensor weight, int padTo = 1) =>
        new Functions.Linear(padTo, Profiler.IsActive ? $"linear {weight.Dim(1)}->{weight.Dim(0)}" : "linear").Apply(x, weight);

    // ---- fp8 (torch.float8_e4m3fn / float8_e5m2, torch._scaled_mm); no gradients: see docs/fp8.md ----

    /// <summary>
    /// <c>(x * scale).to(float8)</c>: an F32 tensor multiplied by <paramref name="scale"/> in fp32, then rounded to the
    /// nearest fp8 value (ties to even) of <paramref name="dtype"/> (<see cref="DType.F8E4M3"/> or
    /// <see cref="DType.F8E5M2"/>), saturating: values past the largest finite one (448 or 57344) and ±inf become
    /// ±max, as <c>x.clamp(-max, max)</c> before torch's cast would give; NaN stays NaN. Records no gradient.
    /// </summary>
    public static Tensor ToFloat8(Tensor x, DType dtype, float scale = 1f) => Float8Functions.ToFloat8(x, dtype, scale);

    /// <summary><c>x8.to(float32) * scale</c>: the exact fp32 value of each fp8 code times <paramref name="scale"/>.
    /// To undo <see cref="ToFloat8"/> with scale s, pass 1/s (the inverse scale, as torch._scaled_mm takes it).
    /// Records no gradient.</summary>
    public static Tensor FromFloat8(Tensor x8, float scale = 1f) => Float8Functions.FromFloat8(x8, scale);

    /// <summary>
    /// torch._scaled_mm(a, b, scale_a, scale_b, out_dtype=float32, use_fast_accum): fp8 operands, fp32 output
    /// (M, N) = (decode(a)·decode(b))·scaleA·scaleB, accumulated in fp32. <paramref name="a"/> is (M, K) and
    /// <paramref name="bT"/> is bᵀ: an (N, K) tensor, i.e. the column-major (K, N) operand torch wants, so
    /// <c>ScaledMatmul(x8, w8, ...)</c> is x·wᵀ for a weight w of shape (N, K), as in <see cref="Linear"/>.
    /// scaleA and scaleB are one-element F32 tensors holding the inverse (dequantization) scales. K and N must be
    /// multiples of 16; E5M2 × E5M2 is not supported. <paramref name="useFastAccum"/> lets cuBLASLt accumulate
    /// with fewer bits inside its tensor-core pipeline (faster, less exact; the CPU always accumulates in fp32).
    /// CUDA needs compute capability 8.9+. Records no gradient.
    /// </summary>
    public static Tensor ScaledMatmul(Tensor a, Tensor bT, Tensor scaleA, Tensor scaleB, bool useFastAccum = false) =>
        Float8Functions.ScaledMatmul(a, bT, scaleA, scaleB, useFastAccum);

    /// <summary><see cref="ScaledMatmul(Tensor, Tensor, Tensor, Tensor, bool)"/> with constant scales (written to
    /// two one-element device tensors on the stream, no synchronisation).</summary>
    public static Tensor ScaledMatmul(Tensor a, Tensor bT, float scaleA, float scaleB, bool useFastAccum = false) =>
        Float8Functions.ScaledMatmul(a, bT, Tensor.Full(a.Device, scaleA, 1), Tensor.Full(a.Device, scaleB, 1), useFastAccum);

    // ---- element-wise arithmetic ----

    /// <summary>a + b. Shapes are equal, or the smaller operand broadcasts over the larger's leading
    /// dimensions: its shape (leading 1s aside) equals the larger's trailing dims, or it has one element.</summary>
    public static Tensor Add(Tensor a, Tensor b) => new Binary<AddOp>("add").Apply(a, b);

    /// <summary>a - b, broadcasting as <see cref="Add"/>.</summary>
    public static Tensor Sub(Tensor a, Tensor b) => new Binary<SubOp>("sub").Apply(a, b);

    /// <summary>a ⊙ b, broadcasting as <see cref="Add"/> (a learnable scalar λ times x is Mul(lambda, x)).</summary>
    public static Tensor Mul(Tensor a, Tensor b) => new Binary<MulOp>("mul").Apply(a, b);

    /// <summary>a / b element-wise, broadcasting as <see cref="Add"/>.</summary>
    public static Tensor Div(Tensor a, Tensor b) => new Binary<DivOp>("div").Apply(a, b);

    /// <summary>alpha·x + beta for constants (what x * 2f, x + 1f, 1f - x compile to).</summary>
    public static Tensor Affine(Tensor x, float alpha, float beta) => new Functions.Affine(alpha, beta).Apply(x);

    // ---- element-wise functions ----

    /// <summary>x².</summary>
    public static Tensor Square(Tensor x) => Unary<Kernels.Ops.Square>(x, "square");

    /// <summary>max(x, 0).</summary>
    public static Tensor Relu(Tensor x) => Unary<Kernels.Ops.Relu>(x, "relu");

    /// <summary>tanh(x).</summary>
    public static Tensor Tanh(Tensor x) => Unary<Kernels.Ops.Tanh>(x, "tanh");

    /// <summary>1 / (1 + e^-x).</summary>
    public static Tensor Sigmoid(Tensor x) => Unary<Kernels.Ops.Sigmoid>(x, "sigmoid");

    /// <summary>e^x.</summary>
    public static Tensor Exp(Tensor x) => Unary<Kernels.Ops.Exp>(x, "exp");

    /// <summary>√x.</summary>
    public static Tensor Sqrt(Tensor x) => Unary<Kernels.Ops.Sqrt>(x, "sqrt");

    /// <summary>x rounded to the nearest bfloat16, kept in float32 (torch's x.bfloat16().float()): computing in bf16
    /// with fp32 storage. The gradient is rounded likewise (a bf16 tensor's gradient is bf16).</summary>
    public static Tensor RoundToBf16(Tensor x) => Unary<Kernels.Ops.RoundBf16>(x, "round_bf16");

    /// <summary>GELU: the exact erf form (PyTorch's default) or the tanh approximation (GPT-2's).</summary>
    public static Tensor Gelu(Tensor x, GeluForm approximate = GeluForm.Erf) => approximate switch
    {
        GeluForm.Erf => Unary<GeluErf>(x, "gelu"),
        GeluForm.Tanh => Unary<GeluTanh>(x, "gelu_tanh"),
        _ => throw new ArgumentOutOfRangeException(nameof(approximate), approximate, "GeluForm.Erf or GeluForm.Tanh"),
    };

    /// <summary>
    /// Any element-wise op given as an operator struct (its value and its derivative), compiled into one
    /// kernel for forward and one for backward: a fused activation in a few lines of a training program.
    /// </summary>
    public static Tensor Unary<TOp>(Tensor x, string? name = null) where TOp : struct, IUnaryOp =>
        new Unary<TOp>(name ?? typeof(TOp).Name).Apply(x);

    /// <summary>Softmax over the last dimension.</summary>
    public static Tensor Softmax(Tensor x) => new Functions.Softmax().Apply(x);

    // ---- layout ----

    /// <summary>A copy of x with dims <paramref name="dim0"/> and <paramref name="dim1"/> swapped
    /// (torch.transpose, made contiguous).</summary>
    public static Tensor Transpose(Tensor x, int dim0, int dim1)
    {
        int a = Dims.Normalize("Transpose", x, dim0), b = Dims.Normalize("Transpose", x, dim1);
        if (a == b) return Functions.Reshape.Apply(x, x.Shape);
        return new Functions.Transpose(Math.Min(a, b), Math.Max(a, b)).Apply(x);
    }

    /// <summary>Consecutive pieces of dimension <paramref name="dim"/> with the given sizes (torch.split),
    /// each a new tensor.</summary>
    public static Tensor[] Split(Tensor x, int[] sizes, int dim = -1)
    {
        int d = Dims.Normalize("Split", x, dim);
        if (sizes.Any(s => s < 0) || sizes.Sum() != x.Shape[d])
            throw new ArgumentException($"Split: sizes [{string.Join(", ", sizes)}] must be non-negative and add up to dim {dim} of {x.Describe()}.");
        return new Functions.Split(d, sizes).ApplyMany(x);
    }

    /// <summary><paramref name="chunks"/> equal pieces of dimension <paramref name="dim"/> (torch.chunk, for a
    /// size divisible by chunks).</summary>
    public static Tensor[] Chunk(Tensor x, int chunks, int dim = -1)
    {
        int d = Dims.Normalize("Chunk", x, dim);
        if (chunks <= 0 || x.Shape[d] % chunks != 0)
            throw new ArgumentException($"Chunk: dim {dim} of {x.Describe()} does not split into {chunks} equal pieces.");
        return Split(x, Enumerable.Repeat(x.Shape[d] / chunks, chunks).ToArray(), d);
    }

    /// <summary>torch.cat: tensors equal outside <paramref name="dim"/>, joined along it.</summary>
    public static Tensor Cat(Tensor[] tensors, int dim = -1)
    {
        if (tensors.Length == 0) throw new ArgumentException("Cat: no tensors.");
        int d = Dims.Normalize("Cat", tensors[0], dim);
        return new Functions.Cat(d).Apply(tensors);
    }

    /// <summary>torch.narrow: elements start..start+length-1 of dimension <paramref name="dim"/>. A view (no copy)
    /// when every dimension before dim has size 1, e.g. the first rows of a table; otherwise a copy.</summary>
    public static Tensor Narrow(Tensor x, int dim, int start, int length)
    {
        int d = Dims.Normalize("Narrow", x, dim);
        if (start < 0 || length < 0 || start + length > x.Shape[d])
            throw new ArgumentException($"Narrow: [{start}, {start + length}) is out of range for dim {dim} of {x.Describe()}.");
        return Functions.Narrow.Apply(x, d, start, length);
    }

    // ---- reductions ----

    /// <summary>The sum of all elements, shape (1).</summary>
    public static Tensor Sum(Tensor x) => new Sum(lastDimOnly: false, keepDim: false, 1f).Apply(x);

    /// <summary>The sum over dimension <paramref name="dim"/>, which must be the last.</summary>
    public static Tensor Sum(Tensor x, int dim, bool keepDim = false) =>
        new Sum(lastDimOnly: LastDim("Sum", x, dim), keepDim, 1f).Apply(x);

    /// <summary>The mean of all elements, shape (1).</summary>
    public static Tensor Mean(Tensor x) => new Sum(lastDimOnly: false, keepDim: false, 1f / x.Length).Apply(x);

    /// <summary>The mean over dimension <paramref name="dim"/>, which must be the last.</summary>
    public static Tensor Mean(Tensor x, int dim, bool keepDim = false) =>
        new Sum(lastDimOnly: LastDim("Mean", x, dim), keepDim, 1f / x.Dim(-1)).Apply(x);

    /// <summary>The L2 norm of all elements (the Frobenius norm of a matrix), shape (1).</summary>
    public static Tensor Norm(Tensor x) => new Norm().Apply(x);

    static bool LastDim(string op, Tensor x, int dim) =>
        Dims.Normalize(op, x, dim) == x.Rank - 1
            ? true
            : throw new ArgumentException($"{op}: only the last dimension can be reduced, got dim {dim} of {x.Describe()} (transpose first).");

    // ---- model ops ----

    /// <summary>F.embedding: token ids (B, T) int → rows of <paramref name="weight"/> (V, C), shape (B, T, C).</summary>
    public static Tensor Embedding(Tensor tokens, Tensor weight) => new Functions.Embedding(tokens).Apply(weight);

    /// <summary>
    /// F.rms_norm over the last dimension: x / √(mean(x²) + eps), times <paramref name="weight"/> (shape (C))
    /// when given. eps defaults to PyTorch's: the float32 machine epsilon, 2^-23.
    /// </summary>
    public static Tensor RmsNorm(Tensor x, Tensor? weight = null, float? eps = null)
    {
        var y = new Functions.RmsNorm(eps ?? MachineEpsilon).Apply(x);
        return weight is null ? y : Mul(y, weight);
    }

    /// <summary>F.layer_norm over the last dimension: (x − mean)/√(var + eps)·weight + bias, with the biased
    /// variance as PyTorch; weight and bias have shape (C).</summary>
    public static Tensor LayerNorm(Tensor x, Tensor weight, Tensor bias, float eps = 1e-5f) =>
        new Functions.LayerNorm(eps).Apply(x, weight, bias);

    /// <summary>torch.finfo(torch.float32).eps = 2^-23.</summary>
    public const float MachineEpsilon = 1.1920929e-07f;

    /// <summary>
    /// F.scaled_dot_product_attention on q, k, v of shape (B, H, T, D): softmax(scale·q kᵀ) v, with the causal
    /// mask when <paramref name="isCausal"/>; scale defaults to 1/√D. Flash attention: no T × T buffer.
    /// </summary>
    public static Tensor ScaledDotProductAttention(Tensor q, Tensor k, Tensor v, bool isCausal = false, float? scale = null)
    {
        Check.Rank("scaled_dot_product_attention", q, 4, "q of shape (B, H, T, D)");
        var masks = DenseMasks.For(q.Device);
        int t = q.Dim(2);
        return isCausal
            ? new FlexAttention<CausalMask>(masks.Causal(t), scale, "scaled_dot_product_attention").Apply(q, k, v)
            : new FlexAttention<FullMask>(masks.Full(t), scale, "scaled_dot_product_attention").Apply(q, k, v);
    }

    /// <summary>
    /// flex_attention on q, k, v of shape (B, H, T, D) under a block mask (see <see cref="BlockMask"/>): each query
    /// attends to the keys its mask lets it see, computed only on the block pairs the mask keeps; scale defaults
    /// to 1/√D. A query that sees no key gets 0 (and passes no gradient).
    /// </summary>
    public static Tensor FlexAttention<TMask>(Tensor q, Tensor k, Tensor v, BlockMask<TMask> blockMask, float? scale = null)
        where TMask : struct, IMaskMod =>
        new FlexAttention<TMask>(blockMask, scale).Apply(q, k, v);

    /// <summary>
    /// torch.utils.checkpoint.checkpoint(fn, *inputs): y = fn(inputs), computed without keeping what fn makes
    /// internally; the backward pass runs fn again to differentiate it. Trades one more forward of fn for its
    /// memory, e.g. a loss over a long sequence taken in chunks, so that only one chunk's logits exist at a time:
    /// <code>
    /// var loss = Tensor.Zeros(device, 1);
    /// foreach (var (rows, targets) in chunks)
    ///     loss = loss + F.Checkpoint(x => F.CrossEntropy(Head(x[0]), targets) * (rows.Dim(0) / (float)n), rows);
    /// </code>
    /// Parameters fn uses are captured, not passed; their gradients accumulate when backward recomputes fn.
    /// </summary>
    public static Tensor Checkpoint(Func<Tensor[], Tensor> fn, params Tensor[] inputs) =>
        new CheckpointFunction(fn).Apply(inputs);

    /// <summary>torch.eq(x, value) on an int tensor: 1 where x equals <paramref name="value"/>, else 0 (int, no gradient).</summary>
    public static Tensor Eq(Tensor x, int value)
    {
        Check.Dtype("eq", x, DType.I32);
        var y = Tensor.Empty(x.Device, DType.I32, x.Shape);
        x.Device.Integers().Equal(x.I32, value, y.I32);
        return y;
    }

    /// <summary>torch.cumsum(x, dim=-1) on an int tensor (int, no gradient): e.g. document ids from the end-of-text
    /// markers of a token stream, <c>F.CumSum(F.Eq(tokens, 50256))</c>, on the device.</summary>
    public static Tensor CumSum(Tensor x)
    {
        Check.Dtype("cumsum", x, DType.I32);
        Check.That(x.Shape.Length >= 1, "cumsum", () => "x must have at least one dimension.");
        var y = Tensor.Empty(x.Device, DType.I32, x.Shape);
        int n = x.Dim(-1);
        x.Device.Integers().CumSum(x.I32, n == 0 ? 0 : (int)(x.Length / n), n, y.I32);
        return y;
    }

    /// <summary>
    /// F.cross_entropy with mean reduction: logits (N, Vp) against int targets (N). Only the first
    /// <paramref name="classes"/> columns (default: all) are classes, so a padded head (see <see cref="Linear"/>)
    /// gives the unpadded loss. The logits are left intact and the loss composes with other terms.
    /// </summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor targets, int? classes = null) =>
        new Functions.CrossEntropy(targets, classes).Apply(logits);
}
