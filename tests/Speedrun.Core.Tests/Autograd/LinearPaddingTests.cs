using Speedrun.Core.Autograd;

namespace Speedrun.Core.Tests.Autograd;

/// <summary>A head whose output rows are padded (stored wider than the class count) computes the same loss
/// and the same gradients as the unpadded one: padding changes the layout, never the maths.</summary>
public class LinearPaddingTests
{
    [Theory]
    [InlineData(1, 37, false)]
    [InlineData(8, 37, false)]
    [InlineData(64, 37, false)]
    [InlineData(16, 48, false)]
    [InlineData(8, 37, true)]
    [InlineData(64, 37, true)]
    public void PaddedHeadMatchesUnpadded(int padTo, int classes, bool bf16)
    {
        const int rows = 23, dim = 19;
        using var device = Device.Create(Speedrun.Kernels.Runtime.DeviceKind.Cpu);
        var rng = new Random(classes + padTo);
        float[] R(int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var xData = R(rows * dim);
        var wData = R(classes * dim);
        var targets = Enumerable.Range(0, rows).Select(i => (i * 7) % classes).ToArray();

        (float Loss, float[] DW, float[] DX) Run(int pad)
        {
            var w = Tensor.Parameter(device, "w", wData, classes, dim);
            var x = Tensor.Parameter(device, "x", xData, rows, dim);
            try
            {
                using var scope = new TensorScope();
                Tensor logits;
                using (Autocast.Use(bf16 ? MatmulPrecision.BF16 : MatmulPrecision.F32)) logits = F.Linear(x, w, padTo: pad);
                Assert.Equal((classes + pad - 1) / pad * pad, logits.Dim(-1));
                var loss = F.CrossEntropy(logits, Tensor.FromArray(device, targets, rows), classes: classes);
                float value = loss.Item();
                loss.Backward();
                return (value, w.Grad!.ToArray(), x.Grad!.ToArray());
            }
            finally
            {
                w.Grad!.Dispose(); w.Dispose(); x.Grad!.Dispose(); x.Dispose();
            }
        }

        var plain = Run(1);
        var padded = Run(padTo);
        Assert.Equal(plain.Loss, padded.Loss, 6);
        for (int i = 0; i < plain.DW.Length; i++) Assert.Equal(plain.DW[i], padded.DW[i], 6);
        for (int i = 0; i < plain.DX.Length; i++) Assert.Equal(plain.DX[i], padded.DX[i], 6);
    }
}
