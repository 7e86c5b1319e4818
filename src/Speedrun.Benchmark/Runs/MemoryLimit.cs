namespace Speedrun.Benchmark.Runs;

/// <summary>
/// A cap on a training process's memory: its data segment limit (RLIMIT_DATA, set with util-linux's prlimit), which
/// counts the private writable memory the .NET heap and the CPU device's tensors live in. A program past it gets an
/// OutOfMemoryException (verdict crashed) instead of taking the machine's memory. CPU runs only: the CUDA driver maps
/// large address ranges of its own, untested under such a limit.
/// </summary>
public static class MemoryLimit
{
    /// <summary>Overrides the cap, in MiB.</summary>
    public const string Var = "SPEEDRUN_MEMORY_MAX_MB";

    const string Prlimit = "/usr/bin/prlimit";

    /// <summary>The cap: <see cref="Var"/>, else 80% of the memory this machine has.</summary>
    public static long Bytes =>
        long.TryParse(Environment.GetEnvironmentVariable(Var), out long mib) && mib > 0
            ? mib << 20
            : (long)(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes * 0.8);

    /// <summary><paramref name="host"/> under the cap, for a run that does not use the GPU, where prlimit is installed.</summary>
    public static ProgramHost Wrap(ProgramHost host, bool usesGpu)
    {
        if (usesGpu || !File.Exists(Prlimit)) return host;
        return new ProgramHost(Prlimit, [$"--data={Bytes}", "--", host.FileName, .. host.PrefixArguments]) { Environment = host.Environment };
    }
}
