using Speedrun.Kernels.Runtime;
using Device = Speedrun.Kernels.Runtime.Device;

namespace Speedrun.Kernels.Tests.Memory;

/// <summary>
/// A pooled buffer refuses its view once its memory is no longer its own: after it went back to the pool (the
/// memory may already hold another tensor) and after the device freed the pool (reading it could crash the
/// process instead of failing a test).
/// </summary>
public sealed class MemoryPoolLifetimeTests
{
    [Fact]
    public void AReturnedBufferRefusesItsView()
    {
        using var device = Device.Create(DeviceKind.Cpu);
        var buffer = device.Pool.Rent<float>(100);
        Assert.Equal(100, buffer.View.Length);
        buffer.Dispose();
        var e = Assert.Throws<ObjectDisposedException>(() => { _ = buffer.View; });
        Assert.Contains("handed back", e.Message);
    }

    [Fact]
    public void ABufferOfADisposedDeviceRefusesItsView()
    {
        var device = Device.Create(DeviceKind.Cpu);
        var buffer = device.Pool.Rent<float>(1 << 20);
        device.Dispose();
        var e = Assert.Throws<ObjectDisposedException>(() => { _ = buffer.View; });
        Assert.Contains("device", e.Message);
    }

    [Fact]
    public void AReturnedBufferIsHandedOutAgainWithAFreshView()
    {
        using var device = Device.Create(DeviceKind.Cpu);
        var first = device.Pool.Rent<float>(100);
        first.Dispose();
        using var second = device.Pool.Rent<float>(100);
        Assert.Equal(1, device.Pool.Hits);
        Assert.Equal(100, second.View.Length);
    }
}
