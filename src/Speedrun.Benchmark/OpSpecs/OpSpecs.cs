using Speedrun.Core.Autograd;
using Speedrun.Kernels.Ops;
using static Speedrun.Benchmark.OpSpecs.OpInput;

namespace Speedrun.Benchmark.OpSpecs;

/// <summary>
/// Every differentiable op of the engine, one <see cref="OpSpec"/> each (see there for what drives what).
/// Adding an op: its kernel (Speedrun.Kernels/Ops), its Function (Speedrun.Core/Autograd/Functions) and F entry,
/// one spec here, and its TorchSharp expression under the same name in tests/Shared/TorchOps.cs.
/// Bench cases use record 1's tiny-track shapes: N = 4·128 = 512 rows, C = 128, 4 heads of 32, hidden 512,
/// 50,257 classes stored 50,304 wide.
/// </summary>
public static class AllOpSpecs
{
    const int N = 512, C = 128, Hidden = 512, Heads = 4, HeadDim = 32, B = 4, T = 128;

    /// <summary>Every spec, in a stable order.</summary>
    public static IReadOnlyList<OpSpec> All { get; } = Build();

    /// <summary>The spec named <paramref name="name"/>.</summary>
    public static OpSpec Get(string name) =>
        All.FirstOrDefault(s => s.Name == name) ?? throw new ArgumentException($"No op spec named '{name}'.");

    static OpCase Case(params OpInput[] inputs) => OpCase.Of(inputs);

    static IReadOnlyList<OpSpec> Build()
    {
        var specs = new List<OpSpec>();

        // ---- products ----
        // fp32 sums of K products, against float64: |error| grows like K·ulp·|terms|.
        specs.Add(new OpSpec
        {
            Name = "matmul", Run = x => [F.Matmul(x[0], x[1])],
            TestCases = [Case(Of(3, 5), Of(5, 7)), Case(Of(2, 3, 33, 17), Of(17, 9)), Case(Of(1, 1), Of(1, 1)), Case(Of(70, 65), Of(65, 33))],
            DeviceCase = Case(Of(129, 257), Of(257, 65)), BenchCase = Case(Of(N, C), Of(C, Hidden)),
            Forward = new(2e-5, 1e-5), Backward = new(2e-5, 1e-5),
        });
        specs.Add(new OpSpec
        {
            Name = "matmul_batched", Run = x => [F.Matmul(x[0], x[1])],
            TestCases = [Case(Of(2, 3, 5, 4), Of(2, 3, 4, 6)), Case(Of(1, 17, 33), Of(1, 33, 9)), Case(Of(4, 1, 1), Of(4, 1, 1))],
            DeviceCase = Case(Of(12, 65, 64), Of(12, 64, 33)), BenchCase = Case(Of(B, Heads, T, HeadDim), Of(B, Heads, HeadDim, T)),
            Forward = new(2e-5, 1e-5), Backward = new(2e-5, 1e-5),
        });
        specs.Add(new OpSpec
        {
            Name = "linear", Run = x => [F.Linear(x[0], x[1])],
            TestCases = [Case(Of(3, 5), Of(7, 5)), Case(Of(2, 9, 33), Of(17, 33)), Case(Of(1, 1), Of(1, 1))],
            DeviceCase = Case(Of(129, 257), Of(65, 257)), BenchCase = Case(Of(N, C), Of(3 * C, C)),
            Forward = new(2e-5, 1e-5), Backward = new(2e-5, 1e-5),
        });

        // ---- element-wise arithmetic, every broadcasting form ----
        OpCase[] Broadcasts(bool positiveB) => [
            Case(Of(2, 3, 5), B2(2, 3, 5)), Case(Of(2, 3, 5), B2(3, 5)), Case(Of(2, 3, 5), B2(1)),
            Case(Of(5), B2(2, 3, 5)), Case(Of(1, 3, 5), B2(2, 3, 5)), Case(Of(4099), B2(4099))];
        OpInput B2(params int[] shape) => Of(shape);
        OpCase[] PositiveB(OpCase[] cases) => cases.Select(c => c with { Inputs = [c.Inputs[0], Positive(c.Inputs[1].Shape)] }).ToArray();
        foreach (var (name, run) in new (string, Func<Tensor[], Tensor[]>)[]
                 {
                     ("add", x => [x[0] + x[1]]), ("sub", x => [x[0] - x[1]]), ("mul", x => [x[0] * x[1]]), ("div", x => [x[0] / x[1]]),
                 })
        {
            var tests = Broadcasts(false);
            specs.Add(new OpSpec
            {
                Name = name, Run = run,
                TestCases = name == "div" ? PositiveB(tests) : tests,
                DeviceCase = name == "div" ? Case(Of(1000, 333), Positive(333)) : Case(Of(1000, 333), Of(333)),
                BenchCase = name == "div" ? Case(Of(B, T, C), Positive(B, T, C)) : Case(Of(B, T, C), Of(B, T, C)),
                // One rounding per element; the broadcast operand's gradient is a sum over the repeats (up to 6
                // in the tests, 1000 in the device case, whose worst error against float64 is half its tolerance).
                Forward = new(0, 1.2e-7), Backward = new(1e-6, 1e-6), DeviceBackward = new(1e-5, 1e-5),
            });
        }
        specs.Add(new OpSpec
        {
            Name = "affine", Run = x => [2.5f * x[0] - 1f],
            TestCases = [Case(Of(7)), Case(Of(3, 33))], DeviceCase = Case(Of(100_003)), BenchCase = Case(Of(B, T, C)),
            Forward = new(1e-7, 1.2e-7), Backward = new(0, 1.2e-7),
        });

        // ---- element-wise functions ----
        OpCase[] Lengths(Func<int[], OpInput> make) => [Case(make([1])), Case(make([7])), Case(make([33])), Case(make([3, 5, 7])), Case(make([4099]))];
        OpInput Wide(params int[] shape) => new(shape, Scale: 3f);
        void Unary(string name, Func<Tensor, Tensor> f, Func<int[], OpInput> make, Tolerance forward, Tolerance backward, string notes = "") =>
            specs.Add(new OpSpec
            {
                Name = name, Run = x => [f(x[0])], TestCases = Lengths(make), DeviceCase = Case(make([100_003])),
                BenchCase = Case(make([N, Hidden])), Forward = forward, Backward = backward, Notes = notes,
            });
        Unary("square", F.Square, Wide, new(0, 6e-8), new(0, 6e-8), "one rounding each way");
        Unary("relu", F.Relu, Wide, new(0, 0), new(0, 0), "exact");
        Unary("tanh", F.Tanh, Wide, new(1e-7, 1e-6), new(1e-6, 1e-6), "our tanh is within a few ulps");
        Unary("sigmoid", F.Sigmoid, Wide, new(1e-7, 1e-6), new(1e-6, 1e-6), "our exp is within 2 ulps");
        Unary("exp", F.Exp, Wide, new(0, 1e-6), new(0, 1e-6), "our exp is within 2 ulps");
        Unary("round_bf16", F.RoundToBf16, Wide, new(0, 0), new(0, 0), "exact: the same rounding, ties to even");
        Unary("sqrt", F.Sqrt, s => Positive(s), new(0, 1.2e-7), new(0, 1e-6), "IEEE square root");
        // Our erf/exp are within a few ulps; the backward crosses zero near x = -0.75 by cancellation.
        Unary("gelu", x => F.Gelu(x), Wide, new(1e-9, 1e-6), new(4e-7, 1e-6));
        Unary("gelu_tanh", x => F.Gelu(x, GeluForm.Tanh), Wide, new(1e-9, 1e-6), new(4e-7, 1e-6));
        specs.Add(new OpSpec
        {
            Name = "softmax", Run = x => [F.Softmax(x[0])],
            TestCases = [Case(Of(1, 1)), Case(Of(3, 7)), Case(Of(5, 1000)), Case(Of(2, 3, 33))],
            DeviceCase = Case(Of(67, 1000)), BenchCase = Case(Of(B * Heads * T, T)),
            Forward = new(1e-8, 4e-6), Backward = new(1e-6, 2e-5),
        });

        // ---- layout (exact copies) ----
        Tolerance exact = new(0, 0);
        specs.Add(new OpSpec
        {
            Name = "transpose_1_2", Run = x => [x[0].Transpose(1, 2)],
            TestCases = [Case(Of(2, 3, 4, 5)), Case(Of(1, 5, 2, 3)), Case(Of(2, 1, 1, 3)), Case(Of(3, 4, 5))],
            DeviceCase = Case(Of(8, 257, 12, 64)), BenchCase = Case(Of(B, T, Heads, HeadDim)), Forward = exact, Backward = exact,
        });
        specs.Add(new OpSpec
        {
            Name = "transpose_0_2", Run = x => [x[0].Transpose(0, 2)],
            TestCases = [Case(Of(3, 4, 5)), Case(Of(2, 3, 4, 5))],
            DeviceCase = Case(Of(64, 33, 65)), BenchCase = Case(Of(T, B, C)), Forward = exact, Backward = exact,
        });
        specs.Add(new OpSpec
        {
            Name = "split", Run = x => x[0].Split([2, 3, 4]),
            TestCases = [Case(Of(3, 9)), Case(Of(2, 3, 9)), Case(Of(9))],
            DeviceCase = Case(Of(4099, 9)), BenchCase = Case(Of(B, T, 9)), Forward = exact, Backward = exact,
        });
        specs.Add(new OpSpec
        {
            Name = "split_dim1", Run = x => x[0].Split([1, 2], dim: 1),
            TestCases = [Case(Of(2, 3, 4)), Case(Of(1, 3, 1))],
            DeviceCase = Case(Of(333, 3, 65)), BenchCase = Case(Of(B * T, 3, C)), Forward = exact, Backward = exact,
        });
        specs.Add(new OpSpec
        {
            Name = "cat", Run = x => [F.Cat([x[0], x[1]])],
            TestCases = [Case(Of(2, 3), Of(2, 5)), Case(Of(4, 1, 2), Of(4, 1, 3)), Case(Of(1), Of(1))],
            DeviceCase = Case(Of(4099, 33), Of(4099, 65)), BenchCase = Case(Of(B, T, C), Of(B, T, C)), Forward = exact, Backward = exact,
        });
        specs.Add(new OpSpec
        {
            Name = "cat_dim0", Run = x => [F.Cat([x[0], x[1]], dim: 0)],
            TestCases = [Case(Of(2, 3), Of(4, 3)), Case(Of(1, 2, 2), Of(3, 2, 2))],
            DeviceCase = Case(Of(333, 65), Of(999, 65)), BenchCase = Case(Of(N, C), Of(N, C)), Forward = exact, Backward = exact,
        });
        specs.Add(new OpSpec
        {
            Name = "narrow_rows", Run = x => [x[0].Narrow(0, 1, 2)],
            TestCases = [Case(Of(4, 3)), Case(Of(3, 2, 5))],
            DeviceCase = Case(Of(1000, 333)), BenchCase = Case(Of(1024, C)), Forward = exact, Backward = exact,
            Notes = "a view of the same storage (the leading dim)",
        });
        specs.Add(new OpSpec
        {
            Name = "narrow_last", Run = x => [x[0].Narrow(-1, 2, 3)],
            TestCases = [Case(Of(2, 3, 7)), Case(Of(5))],
            DeviceCase = Case(Of(1000, 333)), BenchCase = Case(Of(N, C)), Forward = exact, Backward = exact,
            Notes = "a copy (an inner dim)",
        });

        // ---- reductions (fixed-order fp32 sums over up to 4099 terms) ----
        OpCase[] Reduced = [Case(Of(1)), Case(Of(7)), Case(Of(3, 33)), Case(Of(2, 3, 65)), Case(Of(4099))];
        Tolerance sumTol = new(2e-5, 1e-5);
        specs.Add(new OpSpec { Name = "sum", Run = x => [x[0].Sum()], TestCases = Reduced, DeviceCase = Case(Of(100_003)), BenchCase = Case(Of(N, C)), Forward = sumTol, Backward = exact });
        specs.Add(new OpSpec { Name = "sum_last", Run = x => [x[0].Sum(-1)], TestCases = Reduced, DeviceCase = Case(Of(1000, 333)), BenchCase = Case(Of(N, C)), Forward = sumTol, Backward = exact });
        specs.Add(new OpSpec { Name = "mean", Run = x => [x[0].Mean()], TestCases = Reduced, DeviceCase = Case(Of(100_003)), BenchCase = Case(Of(N, C)), Forward = sumTol, Backward = new(0, 1.2e-7) });
        specs.Add(new OpSpec { Name = "mean_last", Run = x => [x[0].Mean(-1, keepDim: true)], TestCases = Reduced, DeviceCase = Case(Of(1000, 333)), BenchCase = Case(Of(N, C)), Forward = sumTol, Backward = new(0, 1.2e-7) });
        specs.Add(new OpSpec { Name = "norm", Run = x => [x[0].Norm()], TestCases = Reduced, DeviceCase = Case(Of(100_003)), BenchCase = Case(Of(3 * C, C)), Forward = sumTol, Backward = new(1e-7, 1e-5) });

        // ---- model ops ----
        specs.Add(new OpSpec
        {
            Name = "embedding", Run = x => [F.Embedding(x[0], x[1])],
            TestCases = [Case(Tokens(11, 2, 5), Of(11, 3)), Case(Tokens(1000, 2, 65), Of(1000, 96)), Case(Tokens(1, 1, 1), Of(1, 1))],
            DeviceCase = Case(Tokens(1000, 2, 65), Of(1000, 96)), BenchCase = Case(Tokens(50257, B, T), Of(50257, C)),
            Forward = exact, Backward = new(2e-6, 2e-6),
        });
        // fp32 mean of squares over C terms and a square root; the backward sums C terms too.
        specs.Add(new OpSpec
        {
            Name = "rms_norm", Run = x => [F.RmsNorm(x[0])],
            TestCases = [Case(Of(1, 1)), Case(Of(5, 33)), Case(Of(2, 3, 64)), Case(Of(3, 768))],
            DeviceCase = Case(Of(67, 768)), BenchCase = Case(Of(B, T, C)),
            Forward = new(1e-6, 1e-6), Backward = new(1e-5, 1e-5),
        });
        specs.Add(new OpSpec
        {
            Name = "rms_norm_weight", Run = x => [F.RmsNorm(x[0], x[1], eps: 1e-6f)],
            TestCases = [Case(Of(5, 33), Of(33)), Case(Of(2, 3, 64), Of(64))],
            DeviceCase = Case(Of(67, 768), Of(768)), BenchCase = Case(Of(B, T, C), Of(C)),
            Forward = new(1e-6, 1e-6), Backward = new(1e-5, 1e-5),
        });
        specs.Add(new OpSpec
        {
            Name = "layer_norm", Run = x => [F.LayerNorm(x[0], x[1], x[2])],
            TestCases = [Case(Of(5, 33), Of(33), Of(33)), Case(Of(2, 3, 64), Of(64), Of(64))],
            DeviceCase = Case(Of(67, 768), Of(768), Of(768)), BenchCase = Case(Of(B, T, C), Of(C), Of(C)),
            Forward = new(2e-6, 2e-6), Backward = new(1e-5, 1e-5),
        });
        // fp32 GEMMs over D or T terms plus an exp per score: 9e-7 worst seen for O(1) values at D = 64.
        OpCase[] Heads3(int b, int h, int t, int d) => [Case(Of(b, h, t, d), Of(b, h, t, d), Of(b, h, t, d))];
        OpCase[] AttentionCases = [.. Heads3(1, 1, 1, 4), .. Heads3(2, 3, 5, 8), .. Heads3(1, 3, 17, 64), .. Heads3(2, 1, 17, 4)];
        foreach (var (name, run) in new (string, Func<Tensor[], Tensor[]>)[]
                 {
                     ("sdpa_causal", x => [F.ScaledDotProductAttention(x[0], x[1], x[2], isCausal: true)]),
                     ("sdpa", x => [F.ScaledDotProductAttention(x[0], x[1], x[2])]),
                     ("sdpa_causal_scale", x => [F.ScaledDotProductAttention(x[0], x[1], x[2], isCausal: true, scale: 0.12f)]),
                 })
            specs.Add(new OpSpec
            {
                Name = name, Run = run, TestCases = AttentionCases, DeviceCase = Heads3(2, 3, 67, 64)[0],
                BenchCase = Heads3(B, Heads, T, HeadDim)[0], Forward = new(5e-6, 1e-4), Backward = new(5e-6, 1e-4),
            });
        // flex_attention under block masks (block size 16 unless named): causal ∧ same document (ids from the
        // end-of-text markers of a token input, ~1 in 12 positions, so boundaries fall inside blocks), sliding
        // windows (one block; 24 positions), only the diagonal, rows that see nothing, and documents aligned to
        // blocks built with BlockMask.FromBlocks (every pair full or empty: empty partial lists).
        OpCase HeadsIds(int b, int h, int t, int d) => Case(Of(b, h, t, d), Of(b, h, t, d), Of(b, h, t, d), Tokens(SpecMasks.Vocabulary, t));
        OpCase[] DocumentCases = [HeadsIds(1, 2, 37, 8), HeadsIds(2, 1, 67, 64), HeadsIds(1, 1, 45, 128)];
        OpCase[] PlainCases = [.. Heads3(1, 2, 37, 8), .. Heads3(1, 1, 67, 64), .. Heads3(1, 1, 33, 128)];
        foreach (var (name, run, cases) in new (string, Func<Tensor[], Tensor[]>, OpCase[])[]
                 {
                     ("flex_document", x => [SpecMasks.Attention(x[0], x[1], x[2], x[3], causal: true, 0, 0, 16)], DocumentCases),
                     ("flex_document_block32", x => [SpecMasks.Attention(x[0], x[1], x[2], x[3], causal: true, 0, 0, 32)],
                         [HeadsIds(1, 2, 67, 64), HeadsIds(1, 1, 100, 16)]),
                     ("flex_document_scale", x => [SpecMasks.Attention(x[0], x[1], x[2], x[3], causal: true, 0, 0, 16, scale: 0.12f)],
                         [HeadsIds(1, 2, 37, 8)]),
                     ("flex_window_one_block", x => [SpecMasks.Attention(x[0], x[1], x[2], null, causal: true, 16, 0, 16)], PlainCases),
                     ("flex_document_window", x => [SpecMasks.Attention(x[0], x[1], x[2], x[3], causal: true, 24, 0, 16)],
                         [HeadsIds(2, 2, 67, 16), HeadsIds(1, 1, 70, 128)]),
                     ("flex_diagonal", x => [SpecMasks.Attention(x[0], x[1], x[2], null, causal: true, 1, 0, 16)], PlainCases),
                     ("flex_silent_rows", x => [SpecMasks.Attention(x[0], x[1], x[2], null, causal: true, 0, 7, 16)], PlainCases),
                     ("flex_aligned_documents", x =>
                         [F.FlexAttention(x[0], x[1], x[2], BlockMask.FromBlocks(x[0].Device, new AlignedDocuments(32), new AlignedDocuments(32), x[0].Dim(2), 16))],
                         [.. Heads3(1, 2, 64, 8), .. Heads3(1, 1, 70, 64)]),
                 })
        {
            bool ids = cases[0].Inputs.Count == 4;
            specs.Add(new OpSpec
            {
                Name = name, Run = run, TestCases = cases,
                DeviceCase = ids ? HeadsIds(2, 3, 131, 64) : Heads3(2, 3, 131, 64)[0],
                BenchCase = ids ? HeadsIds(B, Heads, T, HeadDim) : Heads3(B, Heads, T, HeadDim)[0],
                Forward = new(5e-6, 1e-4), Backward = new(5e-6, 1e-4),
            });
        }
        // One logsumexp per row over up to 1000 classes.
        specs.Add(new OpSpec
        {
            Name = "cross_entropy", Run = x => [F.CrossEntropy(x[0], x[1])],
            TestCases = [Case(Of(1, 1), Tokens(1, 1)), Case(Of(4, 10), Tokens(10, 4)), Case(new OpInput([33, 1000], Scale: 3f), Tokens(1000, 33))],
            DeviceCase = Case(new OpInput([33, 50257], Scale: 3f), Tokens(50257, 33)), BenchCase = Case(Of(N, 50257), Tokens(50257, N)),
            Forward = new(1e-6, 2e-6), Backward = new(1e-8, 2e-5),
            // The device case's rows have 50257 classes (the tests' at most 1000); its worst errors against float64
            // use 0.7 of these tolerances.
            DeviceForward = new(1e-6, 5e-6), DeviceBackward = new(1e-8, 1e-4),
        });
        specs.Add(new OpSpec
        {
            Name = "cross_entropy_classes", Run = x => [F.CrossEntropy(x[0], x[1], classes: 13)],
            TestCases = [Case(Of(5, 16), Tokens(13, 5)), Case(Of(2, 13), Tokens(13, 2))],
            DeviceCase = Case(new OpInput([33, 50304], Scale: 3f), Tokens(13, 33)), BenchCase = Case(Of(N, 50304), Tokens(13, N)),
            Forward = new(1e-6, 2e-6), Backward = new(1e-8, 2e-5),
            Notes = "a padded head: only the first 13 columns are classes; the rest get zero gradient",
        });
        return specs;
    }
}
