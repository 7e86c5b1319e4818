using System.Diagnostics;
using ILGPU.Runtime;
using Speedrun.Kernels.Native;

namespace Speedrun.Kernels.Runtime;

/// <summary>
/// Measures device time between Start and Stop: CUDA events on the stream on CUDA, a monotonic host
/// clock after a full synchronisation on the CPU. Stop waits for the work recorded before it.
/// </summary>
public interface IDeviceTimer : IDisposable
{
    /// <summary>Marks the start of the timed work.</summary>
    void Start();
    /// <summary>Milliseconds of device work between Start and now (blocks until that work is done).</summary>
    double StopMilliseconds();
}

internal sealed class HostClockTimer(Accelerator accelerator) : IDeviceTimer
{
    long _start;

    public void Start()
    {
        accelerator.Synchronize();
        _start = Stopwatch.GetTimestamp();
    }

    public double StopMilliseconds()
    {
        accelerator.Synchronize();
        return Stopwatch.GetElapsedTime(_start).TotalMilliseconds;
    }

    public void Dispose() { }
}

internal sealed class CudaEventTimer : IDeviceTimer
{
    readonly Accelerator _accelerator;
    readonly nint _stream;
    nint _startEvent, _stopEvent;

    internal CudaEventTimer(Accelerator accelerator, nint stream)
    {
        _accelerator = accelerator;
        _stream = stream;
        _accelerator.Bind();
        CudaDriver.Check(CudaDriver.EventCreate(out _startEvent, 0));
        CudaDriver.Check(CudaDriver.EventCreate(out _stopEvent, 0));
    }

    public void Start()
    {
        _accelerator.Bind();
        CudaDriver.Check(CudaDriver.EventRecord(_startEvent, _stream));
    }

    public double StopMilliseconds()
    {
        _accelerator.Bind();
        CudaDriver.Check(CudaDriver.EventRecord(_stopEvent, _stream));
        CudaDriver.Check(CudaDriver.EventSynchronize(_stopEvent));
        CudaDriver.Check(CudaDriver.EventElapsedTime(out float ms, _startEvent, _stopEvent));
        return ms;
    }

    public void Dispose()
    {
        if (_startEvent == 0) return;
        _accelerator.Bind();
        CudaDriver.EventDestroy(_startEvent);
        CudaDriver.EventDestroy(_stopEvent);
        _startEvent = _stopEvent = 0;
    }
}
