using System.Reflection;
using System.Runtime.InteropServices;

namespace Speedrun.Core.Training;

/// <summary>
/// Identifies the hardware and software a time was measured on: device model, driver, the CPU for CPU runs,
/// and the engine version. FSR compares only times that share a fingerprint.
/// </summary>
public static class HardwareFingerprint
{
    /// <summary>The fingerprint of this process's device, CPU and engine.</summary>
    public static string Of(Device device)
    {
        var info = device.Describe();
        string hardware = device.IsCuda
            ? $"{info.Name} (cc {info.ComputeCapability}, driver {info.DriverVersion})"
            : $"cpu {CpuModel()} x{Environment.ProcessorCount}";
        return $"{hardware} | {RuntimeInformation.OSArchitecture} | engine {EngineVersion}{BuildKind}";
    }

    // An unoptimised engine runs several times slower: its times never mix with a release build's.
#if DEBUG
    const string BuildKind = " (debug build)";
#else
    const string BuildKind = "";
#endif

    /// <summary>The engine's informational version (includes the git hash).</summary>
    public static string EngineVersion =>
        typeof(HardwareFingerprint).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "dev";

    static string CpuModel()
    {
        try
        {
            if (File.Exists("/proc/cpuinfo"))
                foreach (var line in File.ReadLines("/proc/cpuinfo"))
                    if (line.StartsWith("model name", StringComparison.Ordinal))
                        return line[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException) { }
        return RuntimeInformation.ProcessArchitecture.ToString();
    }
}
