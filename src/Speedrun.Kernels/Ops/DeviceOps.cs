namespace Speedrun.Kernels.Ops;

/// <summary>Each kernel family is loaded once per device, on first use.</summary>
internal static class DeviceOps
{
    public static ElementwiseKernels Elementwise(this Runtime.Device d) => d.Kernels(static d => new ElementwiseKernels(d));
}
