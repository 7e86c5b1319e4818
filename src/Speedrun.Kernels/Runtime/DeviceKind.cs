namespace Speedrun.Kernels.Runtime;

/// <summary>Where kernels run: ILGPU's CPU accelerator (tests, machines without a GPU) or CUDA.</summary>
public enum DeviceKind
{
    /// <summary>ILGPU's CPU accelerator (simulated threads; GEMMs on a managed SIMD kernel).</summary>
    Cpu,
    /// <summary>An NVIDIA GPU through ILGPU's CUDA backend (GEMMs on cuBLAS).</summary>
    Cuda,
}

/// <summary>Parsing device names given on command lines and in SPEEDRUN_DEVICE.</summary>
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
