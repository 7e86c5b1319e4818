namespace Speedrun.Core.Autograd.Functions;

/// <summary>A scope that lets the device's fp32 GEMMs use TF32, restoring the previous setting.</summary>
internal readonly struct Tf32 : IDisposable
{
    readonly Device? _device;
    readonly bool _previous;

    Tf32(Device device, bool allow)
    {
        _device = device;
        _previous = device.Blas.AllowTf32;
        device.Blas.AllowTf32 = allow;
    }

    public static Tf32 When(Device device, bool allow) => new(device, allow);

    public void Dispose()
    {
        if (_device is not null) _device.Blas.AllowTf32 = _previous;
    }
}
