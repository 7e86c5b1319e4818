using System.Numerics;
using System.Reflection;
using Speedrun.Kernels.Ops;

namespace Speedrun.Core.Tests.Training;

/// <summary>
/// The records' own element-wise ops that also compute SIMD vectors (IVectorUnaryOp: the logit softcap of records
/// 9-18, the offset logits of 19-21) run vector-wide on the CPU device and one element at a time in kernels, so a
/// record gives the same bits on either path only if every lane of the vector methods equals the scalar methods.
/// Checked lane by lane, forward and backward, over a dense grid of logits, the branch points of tanh and exp, the
/// subnormals and the special values.
/// </summary>
public class RecordVectorOpsTests
{
    public static TheoryData<string, string> Ops => new()
    {
        { "09-shortcuts-tweaks", "Softcap" }, { "10-cast-bf16", "Softcap" }, { "11-unet-double-lr", "Softcap" },
        { "12-flex-attention", "Softcap" }, { "13-window-warmup", "Softcap" }, { "14-value-embed", "Softcap" },
        { "15-unet-value-embeds", "Softcap" }, { "16-mfu-tweaks", "Softcap" }, { "17-sparsify-embeds", "Softcap" },
        { "18-softcap", "Softcap" }, { "19-fp8-lm-head", "OffsetLogits" }, { "20-sub3min", "OffsetLogits" },
        { "21-batch-size", "OffsetLogits" },
    };

    [Theory]
    [MemberData(nameof(Ops))]
    public void VectorMethodsGiveEachLaneTheScalarBits(string record, string op)
    {
        var type = RecordProgram.Load(record).Type(op);
        Assert.True(typeof(IVectorUnaryOp).IsAssignableFrom(type), $"{record}'s {op} does not implement IVectorUnaryOp");
        typeof(RecordVectorOpsTests).GetMethod(nameof(Check), BindingFlags.NonPublic | BindingFlags.Static)!
            .MakeGenericMethod(type).Invoke(null, [$"{record} {op}"]);
    }

    static void Check<TOp>(string what) where TOp : struct, IVectorUnaryOp
    {
        var x = Enumerable.Range(0, 80001).Select(i => -200f + i * 0.005f)
            .Concat([0f, -0f, 3.75f, -3.75f, 7.5f, -7.5f, 780f, -780f, 1332f, -1560f, float.Epsilon, -float.Epsilon, 1e-30f,
                     float.MaxValue, float.MinValue, float.PositiveInfinity, float.NegativeInfinity, float.NaN])
            .ToArray();
        var rng = new Random(3);
        var dy = x.Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        int w = Vector<float>.Count, mismatches = 0;
        string? first = null;
        var op = default(TOp);
        for (int i = 0; i + w <= x.Length; i += w)
        {
            var forward = op.Forward(new Vector<float>(x, i));
            var backward = op.Backward(new Vector<float>(x, i), new Vector<float>(dy, i));
            for (int lane = 0; lane < w; lane++)
            {
                float f = op.Forward(x[i + lane]), b = op.Backward(x[i + lane], dy[i + lane]);
                if (Same(f, forward[lane]) && Same(b, backward[lane])) continue;
                mismatches++;
                first ??= $"x = {x[i + lane]:R}: forward {forward[lane]:R} against {f:R}, backward {backward[lane]:R} against {b:R}";
            }
        }
        Assert.True(mismatches == 0, $"{what}: {mismatches} lanes differ from the scalar methods; first at {first}");
    }

    static bool Same(float a, float b) =>
        float.IsNaN(a) ? float.IsNaN(b) : BitConverter.SingleToInt32Bits(a) == BitConverter.SingleToInt32Bits(b);
}
