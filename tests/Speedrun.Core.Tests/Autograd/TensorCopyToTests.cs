using Speedrun.Core.Autograd;

namespace Speedrun.Core.Tests.Autograd;

/// <summary>Tensor.CopyTo reads a tensor's values a range at a time (how the evaluation process streams logits
/// without copying a batch's whole): every range gives the host values it was made from, views included.</summary>
public class TensorCopyToTests
{
    [Fact]
    public void RangesOfATensorAndOfAViewGiveItsValues()
    {
        using var device = Device.Create(Speedrun.Kernels.Runtime.DeviceKind.Cpu);
        using var scope = new TensorScope();
        var values = Enumerable.Range(0, 6 * 7).Select(i => i * 0.5f - 3f).ToArray();
        var t = Tensor.FromArray(device, values, 6, 7);
        var read = new float[values.Length];
        for (int start = 0; start < values.Length; start += 10)
            t.CopyTo(read.AsSpan(start, Math.Min(10, values.Length - start)), start);
        Assert.Equal(values, read);

        // The last two rows, a view into the same storage at an offset: ranges count from the view's first value.
        var tail = t.Split([4, 2], dim: 0)[1];
        var part = new float[5];
        tail.CopyTo(part, 3);
        Assert.Equal(values.AsSpan(4 * 7 + 3, 5).ToArray(), part);
        tail.CopyTo(Span<float>.Empty, 14);
    }

    [Theory]
    [InlineData(-1, 2)]
    [InlineData(40, 3)]
    [InlineData(0, 43)]
    public void ARangeOutsideTheTensorIsRefusedNamingIt(int start, int count)
    {
        using var device = Device.Create(Speedrun.Kernels.Runtime.DeviceKind.Cpu);
        using var scope = new TensorScope();
        var t = Tensor.FromArray(device, new float[42], 6, 7);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => t.CopyTo(new float[count], start));
        Assert.Contains($"values [{start}, {start + count})", e.Message);
        Assert.Contains("42 values", e.Message);
    }
}
