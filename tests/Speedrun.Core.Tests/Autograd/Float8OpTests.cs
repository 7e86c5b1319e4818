using Speedrun.Core.Autograd;
using Speedrun.Tests.Torch;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = Speedrun.Core.Autograd.Tensor;

namespace Speedrun.Core.Tests.Autograd;

/// <summary>
/// F.ToFloat8 / F.FromFloat8 / F.ScaledMatmul on the CPU device against libtorch (TorchSharp-cpu 0.107, libtorch
/// 2.10): its float8 dtypes are reachable by their c10 codes (Float8_e5m2 = 23, Float8_e4m3fn = 24) although
/// TorchSharp's enum does not name them, and torch._scaled_mm (its CPU emulation) through a TorchScript function.
/// </summary>
public class Float8OpTests
{
    const ScalarType TorchE5M2 = (ScalarType)23, TorchE4M3 = (ScalarType)24;

    static readonly Lazy<Device> SharedDevice = new(() => Device.Create(Kernels.Runtime.DeviceKind.Cpu));
    static Device Cpu => SharedDevice.Value;

    static ScalarType TorchType(DType d) => d == DType.F8E4M3 ? TorchE4M3 : TorchE5M2;
    static float Max(DType d) => d == DType.F8E4M3 ? 448f : 57344f;

    static float[] Random(int seed, int n, double spread)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)((rng.NextDouble() * 2 - 1) * spread)).ToArray();
    }

    static byte[] Codes(Tensor t)
    {
        var codes = new byte[t.Length];
        t.Device.Synchronize();
        t.F8.CopyToCPU(codes);
        return codes;
    }

    /// <summary>An fp8 torch tensor holding exactly these codes.</summary>
    static torch.Tensor TorchF8(byte[] codes, DType dtype, params long[] shape)
    {
        var t = torch.empty(shape, TorchType(dtype));
        t.bytes = codes;
        return t;
    }

    public static TheoryData<DType, float> CastCases => new()
    {
        { DType.F8E4M3, 1f }, { DType.F8E4M3, 32f }, { DType.F8E4M3, 0.3f },
        { DType.F8E5M2, 1f }, { DType.F8E5M2, 536870912f /* 2^29, record 19's gradient scale */ }, { DType.F8E5M2, 0.3f },
    };

    [Theory, MemberData(nameof(CastCases))]
    public void ToFloat8AndBackMatchTorchBitForBit(DType dtype, float scale)
    {
        using var scope = new TensorScope();
        const int n = 4099;
        var data = Random(7, n, 20.0);
        data[0] = 1e6f; data[1] = -1e6f; data[2] = -0f; data[3] = 1e-12f; // saturate, saturate, keep -0, underflow
        var x = Tensor.FromArray(Cpu, data, n);
        var x8 = F.ToFloat8(x, dtype, scale);
        Assert.Equal(dtype, x8.DType);
        Assert.Equal([n], x8.Shape);

        // torch: (x * scale).clamp(-max, max).to(float8): the product in fp32, then the cast.
        using var tx = torch.tensor(data);
        using var expected = (tx * scale).clamp(-Max(dtype), Max(dtype)).to_type(TorchType(dtype));
        Assert.Equal(expected.bytes.ToArray(), Codes(x8));

        // Back: x8.to(float32) * (1/scale), bit for bit.
        float inverse = 1f / scale;
        var back = F.FromFloat8(x8, inverse).ToArray();
        using var expectedBack = expected.to_type(ScalarType.Float32) * inverse;
        var e = TensorData.Read<float>(expectedBack);
        for (int i = 0; i < n; i++)
            Assert.True(BitConverter.SingleToInt32Bits(e[i]) == BitConverter.SingleToInt32Bits(back[i]), $"[{i}] {back[i]:R} vs torch {e[i]:R}");

        // The round trip is within half an fp8 step of x where x·scale is in the normal range and not saturated.
        double halfStep = dtype == DType.F8E4M3 ? 1.0 / 16 : 1.0 / 8;
        double minNormal = dtype == DType.F8E4M3 ? Math.Pow(2, -6) : Math.Pow(2, -14);
        for (int i = 0; i < n; i++)
        {
            double scaled = Math.Abs((double)data[i] * scale);
            if (scaled < minNormal || scaled > Max(dtype)) continue;
            Assert.True(Math.Abs(back[i] - data[i]) <= halfStep * Math.Abs(data[i]) * 1.0001, $"[{i}] {data[i]} -> {back[i]}");
        }
        Assert.Equal(dtype == DType.F8E4M3 ? 448f / scale : 57344f / scale, back[0], 1e-3f * Math.Abs(back[0]));
        Assert.True(BitConverter.SingleToInt32Bits(back[2]) < 0 && back[2] == 0f, "-0 stays -0");
    }

    [Fact]
    public void Float8TensorsAreByteViewsAndKeepTheirShape()
    {
        using var scope = new TensorScope();
        var x = Tensor.FromArray(Cpu, [1f, 2f, 3f, 4f, 5f, 6f], 2, 3);
        var x8 = F.ToFloat8(x, DType.F8E4M3);
        Assert.Equal([2, 3], x8.Shape);
        Assert.Equal(6, x8.F8.Length);
        var flat = x8.View(6);
        Assert.Equal(DType.F8E4M3, flat.DType);
        Assert.Equal(new[] { 1f, 2f, 3f, 4f, 5f, 6f }, F.FromFloat8(flat).ToArray());
        Assert.Throws<InvalidOperationException>(() => x8.F32);
        Assert.Throws<InvalidOperationException>(() => x.F8);
        Assert.Throws<InvalidOperationException>(() => x8.RequiresGrad = true);
    }

    [Fact]
    public void CastsRejectWrongDtypes()
    {
        using var scope = new TensorScope();
        var x = Tensor.FromArray(Cpu, [1f, 2f], 2);
        var ids = Tensor.FromArray(Cpu, [1, 2], 2);
        Assert.Throws<ArgumentException>(() => F.ToFloat8(x, DType.BF16));
        Assert.Throws<ArgumentException>(() => F.ToFloat8(ids, DType.F8E4M3));
        Assert.Throws<ArgumentException>(() => F.FromFloat8(x));
    }

    // ---- ScaledMatmul ----

    /// <summary>torch._scaled_mm through TorchScript (TorchSharp binds no _scaled_mm); the output dtype is taken from
    /// the fp32 scale so the script names no dtype constant.</summary>
    static readonly Lazy<torch.jit.CompilationUnit> ScaledMmScript = new(() => torch.jit.compile(
        "def scaled_mm(a, b, sa, sb):\n    return torch._scaled_mm(a, b, scale_a=sa, scale_b=sb, out_dtype=sa.dtype)\n"));

    public static TheoryData<DType, DType> OperandTypes => new()
    {
        { DType.F8E4M3, DType.F8E4M3 }, // record 19's forward: x·wᵀ
        { DType.F8E5M2, DType.F8E4M3 }, // its dX = g·w
        { DType.F8E4M3, DType.F8E5M2 }, // its dW = xᵀ·g
    };

    [Theory, MemberData(nameof(OperandTypes))]
    public void ScaledMatmulMatchesFloat64MatmulOfDecodedValuesAndTorchScaledMm(DType aType, DType bType)
    {
        using var scope = new TensorScope();
        const int m = 37, k = 96, n = 80;
        float quantA = aType == DType.F8E4M3 ? 2f : 1024f, quantB = bType == DType.F8E4M3 ? 32f : 1024f;
        var aData = Random(11, m * k, 3.0);
        var bData = Random(12, n * k, 0.2);
        var a8 = F.ToFloat8(Tensor.FromArray(Cpu, aData, m, k), aType, quantA);
        var bT8 = F.ToFloat8(Tensor.FromArray(Cpu, bData, n, k), bType, quantB);
        float scaleA = 1f / quantA, scaleB = 1f / quantB;
        var y = F.ScaledMatmul(a8, bT8, scaleA, scaleB);
        Assert.Equal([m, n], y.Shape);
        Assert.Equal(DType.F32, y.DType);
        var got = y.ToArray();

        using var ta = TorchF8(Codes(a8), aType, m, k);
        using var tbT = TorchF8(Codes(bT8), bType, n, k);
        using var expected = ta.to_type(ScalarType.Float64).matmul(tbT.to_type(ScalarType.Float64).t()) * ((double)scaleA * scaleB);
        var e = TensorData.Read<double>(expected);
        double scale = e.Max(Math.Abs);
        for (int i = 0; i < e.Length; i++)
            Assert.True(Math.Abs(got[i] - e[i]) <= 1e-6 * scale + 1e-6 * Math.Abs(e[i]), $"[{i}] {got[i]} vs float64 {e[i]}");

        using var sa = torch.tensor(scaleA);
        using var sb = torch.tensor(scaleB);
        using var torchOut = (torch.Tensor)ScaledMmScript.Value.invoke("scaled_mm", ta, tbT.t(), sa, sb);
        Assert.Equal(ScalarType.Float32, torchOut.dtype);
        var t = TensorData.Read<float>(torchOut);
        for (int i = 0; i < t.Length; i++)
            Assert.True(Math.Abs(got[i] - t[i]) <= 1e-6 * scale + 1e-6 * Math.Abs(t[i]), $"[{i}] {got[i]} vs torch._scaled_mm {t[i]}");
    }

    [Fact]
    public void TensorScalesEqualConstantScalesAndFastAccumIsExactOnTheCpu()
    {
        using var scope = new TensorScope();
        const int m = 5, k = 32, n = 16;
        var a8 = F.ToFloat8(Tensor.FromArray(Cpu, Random(1, m * k, 1.0), m, k), DType.F8E4M3, 4f);
        var bT8 = F.ToFloat8(Tensor.FromArray(Cpu, Random(2, n * k, 1.0), n, k), DType.F8E5M2, 8f);
        var withConstants = F.ScaledMatmul(a8, bT8, 0.25f, 0.125f).ToArray();
        var withTensors = F.ScaledMatmul(a8, bT8, Tensor.Full(Cpu, 0.25f, 1), Tensor.Full(Cpu, 0.125f, 1)).ToArray();
        var fast = F.ScaledMatmul(a8, bT8, 0.25f, 0.125f, useFastAccum: true).ToArray();
        Assert.Equal(withConstants, withTensors);
        Assert.Equal(withConstants, fast);
    }

    [Fact]
    public void ScaledMatmulRejectsWhatCuBlasLtWouldReject()
    {
        using var scope = new TensorScope();
        Tensor F8(DType d, int rows, int cols) => F.ToFloat8(Tensor.Zeros(Cpu, rows, cols), d);
        var ok = F8(DType.F8E4M3, 4, 32);
        Assert.Throws<ArgumentException>(() => F.ScaledMatmul(F8(DType.F8E4M3, 4, 24), F8(DType.F8E4M3, 16, 24), 1f, 1f)); // K % 16
        Assert.Throws<ArgumentException>(() => F.ScaledMatmul(ok, F8(DType.F8E4M3, 8, 32), 1f, 1f));                     // N % 16
        Assert.Throws<ArgumentException>(() => F.ScaledMatmul(F8(DType.F8E5M2, 4, 32), F8(DType.F8E5M2, 16, 32), 1f, 1f)); // e5m2 x e5m2
        Assert.Throws<ArgumentException>(() => F.ScaledMatmul(ok, F8(DType.F8E4M3, 16, 48), 1f, 1f));                    // K differs
        Assert.Throws<ArgumentException>(() => F.ScaledMatmul(ok, Tensor.Zeros(Cpu, 16, 32), 1f, 1f));                   // not fp8
        Assert.Throws<ArgumentException>(() => F.ScaledMatmul(ok, F8(DType.F8E4M3, 16, 32), Tensor.Zeros(Cpu, 2), Tensor.Zeros(Cpu, 1))); // per-tensor
        Assert.Equal([4, 16], F.ScaledMatmul(ok, F8(DType.F8E4M3, 16, 32), 1f, 1f).Shape);
    }
}
