using Speedrun.Benchmark.Runs;
using Speedrun.Core.Autograd;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = Speedrun.Core.Autograd.Tensor;
using TTensor = TorchSharp.torch.Tensor;

namespace Speedrun.Core.Tests.Training;

/// <summary>
/// The FP8 head of records 19-21 (modded-nanogpt's <c>mm_op</c> on <c>torch._scaled_mm</c>) written with TorchSharp in
/// float64, independently of the engine's fp8 codecs and GEMM: the casts are libtorch's own float8 types (reached by their
/// c10 codes, e5m2 = 23 and e4m3fn = 24, as <c>Float8OpTests</c> reaches them) and the products are float64 matmuls of the
/// decoded values. For x (rows, C), W (V, C) and the quantisation scales (xs, ws, gs):
/// <list type="bullet">
/// <item>forward: x8 = e4m3(x·xs), w8 = e4m3(W·ws), y = bf16((x8·w8ᵀ) / (xs·ws));</item>
/// <item>backward: g8 = e5m2(bf16(dy)·gs), dx = bf16((g8·w8) / (gs·ws)), dW = (g8ᵀ·x8) / (gs·xs), unrounded (fp32 in the
///   record).</item>
/// </list>
/// Each cast is the record's <c>t.mul(s).to(float8)</c>: the product in fp32 (exact for these power-of-two scales), then
/// libtorch's round-to-nearest-even cast, which does not saturate (e4m3 overflow gives NaN, e5m2 overflow ±inf). The engine's
/// <c>F.ToFloat8</c> saturates instead (docs/fp8.md); the two agree wherever nothing overflows, and the oracle tests choose
/// sizes where nothing does (an overflow in the twin shows as a non-finite loss, never as a silent agreement).
/// </summary>
static class Fp8HeadTwin
{
    public const ScalarType E5M2 = (ScalarType)23, E4M3 = (ScalarType)24;

    /// <summary>The quantisation scales (multiplied onto the values before the cast; the products are divided by them).</summary>
    public sealed record Scales(double X, double W, double Grad)
    {
        /// <summary>Records 19 and 20: x·2, W·32, gradient·2^29.</summary>
        public static Scales Record19 { get; } = new(2, 32, Math.Pow(2, 29));

        /// <summary>Record 21: x·2, W·2^9, gradient·2^19.</summary>
        public static Scales Record21 { get; } = new(2, Math.Pow(2, 9), Math.Pow(2, 19));

        /// <summary>A program's scales, from its Hyperparameters (records 19-21: Fp8XScale, Fp8WScale, Fp8GradScale).</summary>
        public static Scales Of(object hyperparameters) => new(LoadedProgram.Get<float>(hyperparameters, "Fp8XScale"),
            LoadedProgram.Get<float>(hyperparameters, "Fp8WScale"), LoadedProgram.Get<float>(hyperparameters, "Fp8GradScale"));

        public override string ToString() => $"x·{X}, W·{W}, grad·2^{Math.Log2(Grad)}";
    }

    /// <summary>y = x·Wᵀ through fp8 as the record computes it, differentiable in x and W (float64 tensors holding fp32
    /// values: the bf16 hidden states and the fp32 master weights).</summary>
    public static TTensor Apply(TTensor x, TTensor w, Scales scales) => Head.apply(x, w, scales);

    /// <summary>The value an fp8 cast of v·scale decodes to, divided by scale again (float64): v·scale in fp32, then
    /// libtorch's cast to <paramref name="fp8"/>.</summary>
    public static TTensor Quantise(TTensor v, ScalarType fp8, double scale) =>
        (v.to_type(ScalarType.Float32) * (float)scale).to_type(fp8).to_type(ScalarType.Float64) / scale;

    static TTensor Bf16(TTensor x) => x.to_type(ScalarType.Float32).to_type(ScalarType.BFloat16).to_type(ScalarType.Float64);

    sealed class Head : torch.autograd.SingleTensorFunction<Head>
    {
        public override string Name => "fp8_head_twin";

        public override TTensor forward(torch.autograd.AutogradContext ctx, params object[] vars)
        {
            var (x, w, scales) = ((TTensor)vars[0], (TTensor)vars[1], (Scales)vars[2]);
            var x8 = Quantise(x.detach(), E4M3, scales.X);
            var w8 = Quantise(w.detach(), E4M3, scales.W);
            ctx.save_for_backward([x8, w8]);
            ctx.save_data("scales", scales);
            return Bf16(x8.matmul(w8.t()));
        }

        public override List<TTensor> backward(torch.autograd.AutogradContext ctx, TTensor dy)
        {
            var saved = ctx.get_saved_variables();
            var (x8, w8) = (saved[0], saved[1]);
            var scales = (Scales)ctx.get_data("scales");
            var g8 = Quantise(Bf16(dy), E5M2, scales.Grad);
            return [Bf16(g8.matmul(w8)), g8.t().matmul(x8), null!];
        }
    }

    /// <summary>The gradient a record's test starts backward from so that the head's output gradients have the record's
    /// per-token size: the test's stream length over the record's (each micro-step's loss is a mean over one stream, 64K
    /// tokens in records 19-20, 48K in 21). Backward from 1 at the test's 256 tokens, the target logits' gradients would
    /// reach 2^-8·2^29 = 2^21 after record 19's gradient scale, past e5m2's 57,344. (The programs' ForTrack does the
    /// same for a short track's stream by scaling hp.Fp8GradScale instead; the tests keep the record's scales and scale
    /// the gradient, so that every gradient after the head, and Adam's ε against them, sees the record's sizes.)</summary>
    public static float RecordGradient(int testTokens, int recordTokens) => (float)testTokens / recordTokens;

    /// <summary>
    /// Puts a record's model (19-21) where its FP8 scales decide the head's numbers, as <see cref="Compare"/>'s inputs do:
    /// the head's weights of magnitudes log-uniform in [2^-14, 2^-10] (W·32 e4m3-subnormal, W·2^9 normal), and backward
    /// started from 2^-18, so that the gradients of the (nearly uniform) softmax's non-target logits, about
    /// 2^-10/256·2^-18 = 2^-36, land in e5m2's normal range after ·2^29 and round to zero after ·2^19, while the target
    /// logits' (about 2^-26) stay normal after either.
    /// </summary>
    public static void PutTheScalesToTheTest(RecordGpt ours, int seed)
    {
        var head = ours.Property("Head");
        var rng = new Random(seed);
        var values = Enumerable.Range(0, (int)head.Length)
            .Select(_ => (float)((rng.Next(2) == 0 ? -1 : 1) * Math.Pow(2, -14 + 4 * rng.NextDouble()))).ToArray();
        using (GradMode.NoGrad())
        using (var scope = new TensorScope())
            head.Copy_(Tensor.FromArray(ours.Device, values, head.Shape));
        ours.LossGradient = MathF.Pow(2, -18);
    }

    /// <summary>What <see cref="Compare"/> measured: each of y, dx and dW as ‖ours − twin‖ / ‖twin‖.</summary>
    public readonly record struct Errors(double Y, double Dx, double Dw)
    {
        public double Worst => Math.Max(Y, Math.Max(Dx, Dw));

        public override string ToString() => $"y {Y:E2}, dx {Dx:E2}, dW {Dw:E2}";
    }

    /// <summary>
    /// The program's own <c>Fp8Head</c> (its Function, constructed with <paramref name="programScales"/>) on the CPU device
    /// against this twin at <paramref name="twinScales"/>, on inputs where the scales decide the result: x (64, 128) N(0, 1)
    /// in bf16; W (256, 128) of magnitudes log-uniform in [2^-14, 2^-10] (W·32 e4m3-subnormal, W·2^9 normal);
    /// dy of magnitudes log-uniform in [2^-44, 2^-34] in bf16 (dy·2^29 mostly e5m2-normal, dy·2^19 subnormal or
    /// flushed to zero); random signs. Nothing overflows at either record's scales.
    /// </summary>
    public static Errors Compare(LoadedProgram program, Device device, Scales programScales, Scales twinScales, int seed)
    {
        const int rows = 64, dim = 128, vocab = 256;
        var rng = new Random(seed);
        float Bf16Value(double v) => Kernels.Numerics.BFloat16.FromFloat((float)v).ToFloat();
        double LogUniform(double lo, double hi) => (rng.Next(2) == 0 ? -1 : 1) * Math.Pow(2, lo + (hi - lo) * rng.NextDouble());
        double Normal() => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        var xData = Enumerable.Range(0, rows * dim).Select(_ => Bf16Value(Normal())).ToArray();
        var wData = Enumerable.Range(0, vocab * dim).Select(_ => (float)LogUniform(-14, -10)).ToArray();
        var dyData = Enumerable.Range(0, rows * vocab).Select(_ => Bf16Value(LogUniform(-44, -34))).ToArray();

        using var scope = new TensorScope();
        var x = Tensor.FromArray(device, xData, rows, dim);
        var w = Tensor.FromArray(device, wData, vocab, dim);
        x.RequiresGrad = true;
        w.RequiresGrad = true;
        var head = (Function)Activator.CreateInstance(program.Type("Fp8Head"),
            (float)programScales.X, (float)programScales.W, (float)programScales.Grad)!;
        var y = head.Apply(x, w);
        y.Backward(Tensor.FromArray(device, dyData, rows, vocab));

        using var torchScope = torch.NewDisposeScope();
        static TTensor F64(float[] data, params long[] shape) => torch.tensor(data.Select(v => (double)v).ToArray(), shape);
        var tx = F64(xData, rows, dim).requires_grad_();
        var tw = F64(wData, vocab, dim).requires_grad_();
        var ty = Apply(tx, tw, twinScales);
        ty.backward([F64(dyData, rows, vocab)]);
        static double Error(float[] ours, TTensor twin)
        {
            var o = torch.tensor(ours.Select(v => (double)v).ToArray(), twin.shape);
            return (o - twin).norm().item<double>() / twin.norm().item<double>();
        }
        return new(Error(y.ToArray(), ty.detach()), Error(x.Grad!.ToArray(), tx.grad!), Error(w.Grad!.ToArray(), tw.grad!));
    }
}
