using Speedrun.Kernels.Ops;
using TorchSharp;

namespace Speedrun.Kernels.Tests;

public class SmokeTests
{
    [Fact]
    public void TorchSharpLoadsAndScaleMatches()
    {
        using var device = Device.Device.Create(Device.DeviceKind.Cpu);
        var x = torch.randn(1000);
        var host = x.data<float>().ToArray();
        using var buf = device.Accelerator.Allocate1D(host);
        using var y = device.Accelerator.Allocate1D<float>(host.Length);
        device.Elementwise().Scale(buf.View, 3f, y.View);
        var got = y.GetAsArray1D();
        var want = (x * 3).data<float>().ToArray();
        for (int i = 0; i < got.Length; i++) Assert.Equal(want[i], got[i], 6);
    }
}
