using Speedrun.Kernels.Ops;
using static Speedrun.Kernels.Tests.OpCheck;
using static Speedrun.Kernels.Tests.Ops.TorchReference;
using static TorchSharp.torch;

namespace Speedrun.Kernels.Tests.Ops;

public class EmbeddingTests
{
    /// <summary>B, T, C, V, Tmax. Small vocabularies make tokens repeat; Tmax &gt; T leaves wpe rows unused.</summary>
    public static TheoryData<int, int, int, int, int> Shapes => new()
    {
        { 1, 1, 1, 1, 1 }, { 2, 3, 5, 4, 3 }, { 3, 7, 33, 11, 9 }, { 2, 37, 96, 50, 40 }, { 4, 16, 8, 300, 16 },
    };

    /// <summary>Token ids in [0, V) with heavy repetition: half of them are token V/2.</summary>
    static int[] Tokens(int count, int vocab, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => rng.Next(2) == 0 ? vocab / 2 : rng.Next(vocab)).ToArray();
    }

    // Forward: each output is one fp32 addition of the kernel's own inputs: at most half an ulp (rtol 6e-8).
    // Backward: fp32 sums of up to B·T = 64 O(1) rows added onto O(1) values: atol 1e-5, rtol 1e-6.
    [Theory, MemberData(nameof(Shapes))]
    public void ForwardAndBackwardMatchTorch(int B, int T, int C, int V, int tMax)
    {
        int[] tokens = Tokens(B * T, V, seed: B * T * C);
        var wte = Exact32(Randn(1 + C, V, C));
        var wpe = Exact32(Randn(2 + C, tMax, C));
        var dOut = Exact32(Randn(3 + C, B, T, C));
        var dWte0 = Exact32(Randn(4 + C, V, C));
        var dWpe0 = Exact32(Randn(5 + C, tMax, C));
        var index = tensor(tokens.Select(t => (long)t).ToArray());
        var positions = arange(T).repeat(B);
        var (output, grads) = Backprop(
            p => (p[0].index_select(0, index) + p[1].index_select(0, positions)).reshape(B, T, C), dOut, wte, wpe);

        using var dTokens = Upload(tokens);
        using var dWte = Upload(wte);
        using var dWpe = Upload(wpe);
        using var dOutBuf = Upload(dOut);
        using var outBuf = Poisoned(B * T * C);
        using var dWteBuf = Upload(dWte0);
        using var dWpeBuf = Upload(dWpe0);
        var ops = Cpu.Embedding();

        ops.Forward(dTokens.View, dWte.View, dWpe.View, B, T, C, outBuf.View);
        Close(output, Download(outBuf), 0, 6e-8, $"Embedding out ({B},{T},{C})");

        using (var plan = ops.PlanTokenBackward(tokens, V))
        {
            Assert.Equal(tokens.Distinct().Count(), plan.DistinctTokens);
            ops.TokenBackward(plan, dOutBuf.View, C, dWteBuf.View);
        }
        Close(dWte0 + grads[0], Download(dWteBuf), 1e-5, 1e-6, $"Embedding dwte ({B},{T},{C})");

        ops.PositionBackward(dOutBuf.View, B, T, C, dWpeBuf.View);
        Close(dWpe0 + grads[1], Download(dWpeBuf), 1e-5, 1e-6, $"Embedding dwpe ({B},{T},{C})");
    }

    [Fact]
    public void EmptyPositionTableMeansTokenEmbeddingOnly()
    {
        const int B = 2, T = 5, C = 3, V = 7;
        int[] tokens = Tokens(B * T, V, seed: 1);
        var wte = Exact32(Randn(1, V, C));
        using var dTokens = Upload(tokens);
        using var dWte = Upload(wte);
        using var outBuf = Poisoned(B * T * C);
        Cpu.Embedding().Forward(dTokens.View, dWte.View, ArrayView<float>.Empty, B, T, C, outBuf.View);
        var expected = wte.index_select(0, tensor(tokens.Select(t => (long)t).ToArray()));
        Close(expected, Download(outBuf), 0, 0, "Embedding without wpe");
    }

    [Fact]
    public void InvalidTokenIdsGiveNaNRowsAndPlanningRejectsThem()
    {
        const int T = 4, C = 3, V = 5;
        int[] tokens = [0, V, -1, 4];
        using var dTokens = Upload(tokens);
        using var dWte = Upload(Exact32(Randn(1, V, C)));
        using var outBuf = Upload(new float[T * C]); // zeros: a NaN can only come from the kernel
        Cpu.Embedding().Forward(dTokens.View, dWte.View, ArrayView<float>.Empty, 1, T, C, outBuf.View);
        var got = Download(outBuf);
        for (int i = 0; i < T * C; i++)
            Assert.Equal(tokens[i / C] is >= 0 and < V, !float.IsNaN(got[i]));

        var e = Assert.Throws<ArgumentException>(() => Cpu.Embedding().PlanTokenBackward(tokens, V));
        Assert.Contains("token id 5 at position 1", e.Message);
    }

    [Fact]
    public void WrongShapesThrowBeforeLaunch()
    {
        using var tokens = Upload(new int[6]);
        using var wte = Poisoned(10);
        using var output = Poisoned(6 * 5);
        using var output4 = Poisoned(6 * 4);
        var ops = Cpu.Embedding();
        // wte of 10 floats is not (V, C=4).
        var e = Assert.Throws<ArgumentException>(() =>
            ops.Forward(tokens.View, wte.View, ArrayView<float>.Empty, 2, 3, 4, output4.View));
        Assert.Contains("Embedding", e.Message);
        Assert.Contains("wte", e.Message);
        // wpe with 1 row cannot cover T = 3 positions.
        e = Assert.Throws<ArgumentException>(() =>
            ops.Forward(tokens.View, wte.View, wte.View.SubView(0, 5), 2, 3, 5, output.View));
        Assert.Contains("wpe", e.Message);
        using var plan = ops.PlanTokenBackward([1, 2, 3, 1, 0, 1], vocab: 4);
        e = Assert.Throws<ArgumentException>(() => ops.TokenBackward(plan, output.View, 4, wte.View));
        Assert.Contains("Embedding token backward", e.Message);
        e = Assert.Throws<ArgumentException>(() => ops.PositionBackward(output.View, 2, 3, 5, wte.View.SubView(0, 5)));
        Assert.Contains("Embedding position backward", e.Message);
    }
}
