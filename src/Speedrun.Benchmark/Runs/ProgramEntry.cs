using System.Reflection;
using System.Runtime.Loader;

namespace Speedrun.Benchmark.Runs;

/// <summary>The child side: loads a compiled training program into this process and runs its Main.</summary>
public static class ProgramEntry
{
    /// <summary>Returns the program's exit code (0 when Main returns void).</summary>
    public static int Run(string assemblyPath, string[] args)
    {
        var assembly = AssemblyLoadContext.Default.LoadFromAssemblyPath(Path.GetFullPath(assemblyPath));
        var main = assembly.EntryPoint ?? throw new InvalidOperationException($"{assemblyPath} has no entry point.");
        try
        {
            object? result = main.GetParameters().Length == 0 ? main.Invoke(null, null) : main.Invoke(null, [args]);
            if (result is Task<int> ti) return ti.GetAwaiter().GetResult();
            if (result is Task t) { t.GetAwaiter().GetResult(); return 0; }
            return result is int code ? code : 0;
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw();
            throw; // unreachable
        }
    }
}
