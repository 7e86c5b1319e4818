using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Speedrun.Kernels.Native;

/// <summary>The few CUDA driver API entry points ILGPU does not expose to us (events, context query).</summary>
internal static partial class CudaDriver
{
    const string Lib = NativeLibraries.CudaDriver;

    [LibraryImport(Lib, EntryPoint = "cuEventCreate")]
    internal static partial int EventCreate(out nint evt, uint flags);

    [LibraryImport(Lib, EntryPoint = "cuEventRecord")]
    internal static partial int EventRecord(nint evt, nint stream);

    [LibraryImport(Lib, EntryPoint = "cuEventSynchronize")]
    internal static partial int EventSynchronize(nint evt);

    [LibraryImport(Lib, EntryPoint = "cuEventElapsedTime")]
    internal static partial int EventElapsedTime(out float milliseconds, nint start, nint end);

    [LibraryImport(Lib, EntryPoint = "cuEventDestroy_v2")]
    internal static partial int EventDestroy(nint evt);

    [LibraryImport(Lib, EntryPoint = "cuCtxGetCurrent")]
    internal static partial int CtxGetCurrent(out nint context);

    [LibraryImport(Lib, EntryPoint = "cuDriverGetVersion")]
    internal static partial int DriverGetVersion(out int version);

    [LibraryImport(Lib, EntryPoint = "cuMemGetInfo_v2")]
    internal static partial int MemGetInfo(out nuint free, out nuint total);

    [LibraryImport(Lib, EntryPoint = "cuGetErrorName")]
    internal static partial int GetErrorName(int error, out nint name);

    /// <summary>Throws with the driver's error name and the failing call.</summary>
    internal static void Check(int status, [CallerArgumentExpression(nameof(status))] string call = "")
    {
        if (status == 0) return;
        string name = $"error {status}";
        if (GetErrorName(status, out var p) == 0 && p != 0) name = Marshal.PtrToStringAnsi(p) ?? name;
        throw new InvalidOperationException($"CUDA driver call failed with {name}: {call}");
    }
}
