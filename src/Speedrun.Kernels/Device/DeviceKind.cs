namespace Speedrun.Kernels.Device;

/// <summary>Where kernels run: ILGPU's CPU accelerator (tests, machines without a GPU) or CUDA.</summary>
public enum DeviceKind
{
    Cpu,
    Cuda,
}

public static class DeviceKinds
{
    /// <summary>Parses "cpu", "cuda" or "auto" (null); anything else names the allowed values.</summary>
    public static DeviceKind? Parse(string? text) => text?.Trim().ToLowerInvariant() switch
    {
        null or "" or "auto" => null,
        "cpu" => DeviceKind.Cpu,
        "cuda" or "gpu" => DeviceKind.Cuda,
        _ => throw new ArgumentException($"Unknown device '{text}'. Use cpu, cuda or auto.", nameof(text)),
    };
}
