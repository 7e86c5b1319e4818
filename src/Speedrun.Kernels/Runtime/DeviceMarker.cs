using System.Diagnostics;
using ILGPU.Runtime;
using Speedrun.Kernels.Native;

namespace Speedrun.Kernels.Runtime;

/// <summary>
/// A point in the device's stream (a CUDA event; on the CPU, whose launches are synchronous, a host
/// timestamp). Recording one never waits; reading the time between two waits for the later one.
/// Used by per-op profiling, where a synchronising timer would distort what it measures.
/// </summary>
public abstract class DeviceMarker : IDisposable
{
    /// <summary>Milliseconds from this marker to a later one (waits for <paramref name="later"/>).</summary>
    public abstract double MillisecondsTo(DeviceMarker later);

    /// <summary>Frees the event behind the marker, if any.</summary>
    public virtual void Dispose() { }

    internal static DeviceMarker Record(Device device) => device.IsCuda
        ? new CudaMarker(device.Accelerator, device.CudaStreamHandle)
        : new HostMarker();

    sealed class HostMarker : DeviceMarker
    {
        readonly long _ticks = Stopwatch.GetTimestamp();

        public override double MillisecondsTo(DeviceMarker later) =>
            (((HostMarker)later)._ticks - _ticks) * 1000.0 / Stopwatch.Frequency;
    }

    sealed class CudaMarker : DeviceMarker
    {
        readonly Accelerator _accelerator;
        nint _event;

        public CudaMarker(Accelerator accelerator, nint stream)
        {
            _accelerator = accelerator;
            accelerator.Bind();
            CudaDriver.Check(CudaDriver.EventCreate(out _event, 0));
            CudaDriver.Check(CudaDriver.EventRecord(_event, stream));
        }

        public override double MillisecondsTo(DeviceMarker later)
        {
            var end = (CudaMarker)later;
            _accelerator.Bind();
            CudaDriver.Check(CudaDriver.EventSynchronize(end._event));
            CudaDriver.Check(CudaDriver.EventElapsedTime(out float ms, _event, end._event));
            return ms;
        }

        public override void Dispose()
        {
            if (_event == 0) return;
            _accelerator.Bind();
            CudaDriver.EventDestroy(_event);
            _event = 0;
        }
    }
}
