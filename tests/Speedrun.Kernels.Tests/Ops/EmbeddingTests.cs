using Speedrun.Kernels.Ops;
using static Speedrun.Kernels.Tests.OpCheck;
using static Speedrun.Kernels.Tests.Ops.TorchReference;
using static TorchSharp.torch;

namespace Speedrun.Kernels.Tests.Ops;

/// <summary>
/// The embedding spec checks the token lookup and its gradient through F.Embedding. Left to these tests: the
/// position-table path (kept in the kernel, no longer used by the engine), the documented summation order
/// of both backward sums (checked bit for bit against the same fp32 sums done here in that order), invalid
/// token ids, and the shape checks.
/// </summary>
public class EmbeddingTests
{
    /// <summary>Token ids in [0, V) with heavy repetition: half of them are token V/2.</summary>
    static int[] Tokens(int count, int vocab, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => rng.Next(2) == 0 ? vocab / 2 : rng.Next(vocab)).ToArray();
    }

    /// <summary>B, T, C, V, Tmax. Tmax &gt; T leaves rows of the position table unused.</summary>
    public static TheoryData<int, int, int, int, int> Shapes => new()
    {
        { 1, 1, 1, 1, 1 }, { 2, 3, 5, 4, 3 }, { 3, 7, 33, 11, 9 }, { 4, 16, 8, 300, 16 },
    };

    /// <summary>
    /// out[b, t] = wte[token] + wpe[t] is one fp32 addition, and dwpe[t] += Σ_b dout[b, t] adds b = 0, 1, ...
    /// in order and then onto dwpe: the same operations in C# give the same bits. Rows t ≥ T of dwpe stay as
    /// they were.
    /// </summary>
    [Theory, MemberData(nameof(Shapes))]
    public void PositionTablePathIsExact(int B, int T, int C, int V, int tMax)
    {
        int[] tokens = Tokens(B * T, V, seed: B * T * C);
        var wte = F32(Randn(1 + C, V, C));
        var wpe = F32(Randn(2 + C, tMax, C));
        var dOut = F32(Randn(3 + C, B, T, C));
        var dWpe0 = F32(Randn(4 + C, tMax, C));

        using var dTokens = Upload(tokens);
        using var dWte = Upload(wte);
        using var dWpe = Upload(wpe);
        using var outBuf = Poisoned(B * T * C);
        using var dOutBuf = Upload(dOut);
        using var dWpeBuf = Upload(dWpe0);
        var ops = Cpu.Embedding();
        ops.Forward(dTokens.View, dWte.View, dWpe.View, B, T, C, outBuf.View);
        ops.PositionBackward(dOutBuf.View, B, T, C, dWpeBuf.View);

        var expectedOut = new float[B * T * C];
        for (int bt = 0; bt < B * T; bt++)
            for (int c = 0; c < C; c++)
                expectedOut[bt * C + c] = wte[tokens[bt] * C + c] + wpe[bt % T * C + c];
        var expectedDWpe = (float[])dWpe0.Clone();
        for (int i = 0; i < T * C; i++)
        {
            float s = 0f;
            for (int b = 0; b < B; b++) s += dOut[b * T * C + i];
            expectedDWpe[i] += s;
        }
        Assert.Equal(Bits(expectedOut), Bits(Download(outBuf)));
        Assert.Equal(Bits(expectedDWpe), Bits(Download(dWpeBuf)));
    }

    /// <summary>
    /// dwte[v] += the rows of dout at v's positions, added in increasing position order (the plan's counting
    /// sort is stable), then onto dwte; rows of tokens absent from the batch stay as they were.
    /// </summary>
    [Theory]
    [InlineData(1, 1, 1, 1)]
    [InlineData(2, 3, 5, 4)]
    [InlineData(3, 7, 33, 11)]
    [InlineData(4, 16, 8, 300)]
    public void TokenBackwardAddsEachTokensRowsInPositionOrder(int B, int T, int C, int V)
    {
        int[] tokens = Tokens(B * T, V, seed: 7 + B * T * C);
        var dOut = F32(Randn(5 + C, B, T, C) * 10);
        var dWte0 = F32(Randn(6 + C, V, C));
        using var dOutBuf = Upload(dOut);
        using var dWteBuf = Upload(dWte0);
        var ops = Cpu.Embedding();
        using (var plan = ops.PlanTokenBackward(tokens, V))
        {
            Assert.Equal(tokens.Distinct().Count(), plan.DistinctTokens);
            Assert.Equal(B * T, plan.Positions);
            ops.TokenBackward(plan, dOutBuf.View, C, dWteBuf.View);
        }

        var expected = (float[])dWte0.Clone();
        for (int v = 0; v < V; v++)
            for (int c = 0; c < C; c++)
            {
                float s = 0f;
                bool present = false;
                for (int p = 0; p < tokens.Length; p++)
                    if (tokens[p] == v) { s += dOut[p * C + c]; present = true; }
                if (present) expected[v * C + c] += s;
            }
        Assert.Equal(Bits(expected), Bits(Download(dWteBuf)));
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
        var wte = F32(Randn(1, V, C));
        using var dTokens = Upload(tokens);
        using var dWte = Upload(wte);
        using var outBuf = Upload(new float[T * C]); // zeros: a NaN can only come from the kernel
        Cpu.Embedding().Forward(dTokens.View, dWte.View, ArrayView<float>.Empty, 1, T, C, outBuf.View);
        var got = Download(outBuf);
        for (int i = 0; i < T * C; i++)
        {
            int token = tokens[i / C];
            if (token is >= 0 and < V) Assert.Equal(wte[token * C + i % C], got[i]);
            else Assert.True(float.IsNaN(got[i]), $"out[{i}] for token {token} is {got[i]}");
        }

        var e = Assert.Throws<ArgumentException>(() => Cpu.Embedding().PlanTokenBackward(tokens, V));
        Assert.Contains("token id 5 at position 1", e.Message);
        e = Assert.Throws<ArgumentException>(() => Cpu.Embedding().PlanTokenBackward([0, 1, -1], V));
        Assert.Contains("token id -1 at position 2", e.Message);
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
        Assert.All(Download(output), x => Assert.True(float.IsNaN(x)));
        Assert.All(Download(output4), x => Assert.True(float.IsNaN(x)));
    }
}
