using Speedrun.Kernels.Runtime;
using Speedrun.Kernels.Native;

namespace Speedrun.Kernels.Tests;

/// <summary>
/// On a machine without CUDA (this one): a missing library or driver gives one readable exception that says
/// where we looked and what to do, never a chain of P/Invoke failures. Skipped where CUDA is installed.
/// </summary>
public class NativeLibraryTests
{
    [Fact]
    public void MissingCuBlasThrowsOneExceptionListingEveryPathTried()
    {
        var probe = NativeLibraries.Load(NativeLibraries.CuBlas);
        Assert.SkipWhen(probe.Success, $"cuBLAS loads here (from {probe.LoadedFrom})");

        var e = Assert.Throws<DllNotFoundException>(() => NativeLibraries.Require(NativeLibraries.CuBlas));
        Assert.Null(e.InnerException);
        Assert.NotEmpty(probe.Tried);
        foreach (var path in probe.Tried) Assert.Contains(path, e.Message);
        Assert.Contains("libcublas.so.13", e.Message);
        Assert.Contains("CUDA_HOME", e.Message);
        Assert.Contains("--device cpu", e.Message);
    }

    [Fact]
    public void CudaDeviceWithoutDriverFailsWithOneClearMessage()
    {
        var probe = NativeLibraries.Load(NativeLibraries.CudaDriver);
        Assert.SkipWhen(probe.Success, $"the CUDA driver loads here (from {probe.LoadedFrom})");

        var e = Assert.ThrowsAny<Exception>(() => Runtime.Device.Create(DeviceKind.Cuda));
        Assert.Null(e.InnerException);
        Assert.Contains("CUDA driver", e.Message);
        Assert.Contains("libcuda.so.1", e.Message);
        Assert.Contains("--device cpu", e.Message);
    }

    [Fact]
    public void AutomaticChoiceFallsBackToTheCpu()
    {
        Assert.SkipWhen(NativeLibraries.Load(NativeLibraries.CudaDriver).Success, "the CUDA driver loads here");
        Assert.SkipWhen(Environment.GetEnvironmentVariable("SPEEDRUN_DEVICE") is { Length: > 0 },
            "SPEEDRUN_DEVICE is set");
        using var device = Runtime.Device.Create();
        Assert.Equal(DeviceKind.Cpu, device.Kind);
    }
}
