using System.Reflection;
using System.Runtime.InteropServices;

namespace Speedrun.Kernels.Native;

/// <summary>
/// Finds the CUDA driver and cuBLAS shared libraries at run time. Our own bindings import the
/// logical names below; one resolver maps them to the first file that loads, and remembers every
/// path it tried so a failure can say exactly where it looked.
/// </summary>
internal static class NativeLibraries
{
    public const string CudaDriver = "speedrun-cuda";
    public const string CuBlas = "speedrun-cublas";
    public const string CuBlasLt = "speedrun-cublaslt";

    static readonly object Gate = new();
    static readonly Dictionary<string, LoadResult> Loaded = new();
    static bool _installed;

    /// <summary>Which file a logical library resolved to, or every path tried when none loaded.</summary>
    public sealed record LoadResult(string LogicalName, nint Handle, string? LoadedFrom, IReadOnlyList<string> Tried)
    {
        public bool Success => Handle != 0;
    }

    /// <summary>Installs the resolvers on our assembly and ILGPU's (ILGPU imports "cuda", which on
    /// Linux only finds libcuda.so; containers often ship only libcuda.so.1).</summary>
    public static void EnsureResolvers()
    {
        lock (Gate)
        {
            if (_installed) return;
            _installed = true;
            NativeLibrary.SetDllImportResolver(typeof(NativeLibraries).Assembly, Resolve);
            try
            {
                NativeLibrary.SetDllImportResolver(typeof(ILGPU.Context).Assembly, ResolveForIlgpu);
            }
            catch (InvalidOperationException)
            {
                // ILGPU installed its own resolver (it does under WSL); keep it.
            }
        }
    }

    static nint Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath) => name switch
    {
        CudaDriver => Load(CudaDriver).Handle,
        CuBlas => Load(CuBlas).Handle,
        CuBlasLt => Load(CuBlasLt).Handle,
        _ => 0,
    };

    static nint ResolveForIlgpu(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (name is "cuda" or "libcuda" or "libcuda.so" && OperatingSystem.IsLinux())
            return Load(CudaDriver).Handle;
        return 0; // fall back to the default probing for everything else
    }

    /// <summary>Loads (once) the library behind a logical name; never throws.</summary>
    public static LoadResult Load(string logicalName)
    {
        lock (Gate)
        {
            if (Loaded.TryGetValue(logicalName, out var cached)) return cached;
            var tried = new List<string>();
            nint handle = 0;
            string? from = null;
            foreach (var candidate in Candidates(logicalName))
            {
                tried.Add(candidate);
                if (NativeLibrary.TryLoad(candidate, out handle)) { from = candidate; break; }
            }
            var result = new LoadResult(logicalName, handle, from, tried);
            Loaded[logicalName] = result;
            return result;
        }
    }

    /// <summary>Throws one readable exception when a library is missing.</summary>
    public static LoadResult Require(string logicalName)
    {
        var result = Load(logicalName);
        if (result.Success) return result;
        var what = logicalName switch
        {
            CudaDriver => "the CUDA driver (libcuda)",
            CuBlasLt => "cuBLASLt (libcublasLt, CUDA 13 or 12)",
            _ => "cuBLAS (libcublas, CUDA 13 or 12)",
        };
        var hint = logicalName == CudaDriver
            ? "Install an NVIDIA driver, or run with --device cpu."
            : "Install the CUDA toolkit or the pip package nvidia-cublas, set CUDA_HOME or LD_LIBRARY_PATH to its lib folder, or run with --device cpu.";
        throw new DllNotFoundException(
            $"Could not load {what}. Tried, in order:\n  " + string.Join("\n  ", result.Tried) + "\n" + hint);
    }

    static IEnumerable<string> Candidates(string logicalName)
    {
        string[] files;
        if (OperatingSystem.IsWindows())
            files = logicalName switch
            {
                CudaDriver => ["nvcuda.dll"],
                CuBlasLt => ["cublasLt64_13.dll", "cublasLt64_12.dll"],
                _ => ["cublas64_13.dll", "cublas64_12.dll"],
            };
        else
            files = logicalName switch
            {
                CudaDriver => ["libcuda.so.1", "libcuda.so"],
                CuBlasLt => ["libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"],
                _ => ["libcublas.so.13", "libcublas.so.12", "libcublas.so"],
            };

        // Bare names first: the system loader honours LD_LIBRARY_PATH and the ldconfig cache.
        foreach (var f in files) yield return f;
        foreach (var dir in SearchFolders(logicalName))
            foreach (var f in files)
            {
                var path = Path.Combine(dir, f);
                if (File.Exists(path)) yield return path;
            }
    }

    static IEnumerable<string> SearchFolders(string logicalName)
    {
        var dirs = new List<string>();
        foreach (var env in new[] { "CUDA_HOME", "CUDA_PATH" })
            if (Environment.GetEnvironmentVariable(env) is { Length: > 0 } home)
            {
                dirs.Add(Path.Combine(home, "lib64"));
                dirs.Add(Path.Combine(home, "lib"));
            }
        if (Environment.GetEnvironmentVariable("LD_LIBRARY_PATH") is { Length: > 0 } ld)
            dirs.AddRange(ld.Split(':', StringSplitOptions.RemoveEmptyEntries));
        dirs.AddRange(["/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib",
            "/usr/lib/x86_64-linux-gnu", "/usr/local/nvidia/lib64", "/usr/lib64"]);
        if (logicalName is CuBlas or CuBlasLt)
            dirs.AddRange(PipCudaFolders());
        return dirs.Distinct();
    }

    /// <summary>Where pip puts cuBLAS: nvidia/cu13/lib (CUDA 13 wheels) or nvidia/cublas/lib (CUDA 12),
    /// under the site-packages of system Pythons, user installs and virtual environments in /opt.</summary>
    static IEnumerable<string> PipCudaFolders()
    {
        var roots = new List<string>();
        foreach (var pattern in new[] { "/usr/lib", "/usr/local/lib", "/root/.local/lib" })
            roots.AddRange(Glob(pattern, "python3*"));
        foreach (var venv in Glob("/opt", "*").SelectMany(d => new[] { Path.Combine(d, ".venv", "lib"), Path.Combine(d, "lib") }))
            roots.AddRange(Glob(venv, "python3*"));
        if (Environment.GetEnvironmentVariable("VIRTUAL_ENV") is { Length: > 0 } active)
            roots.AddRange(Glob(Path.Combine(active, "lib"), "python3*"));
        foreach (var root in roots)
            foreach (var packages in new[] { "site-packages", "dist-packages" })
            {
                yield return Path.Combine(root, packages, "nvidia", "cu13", "lib");
                yield return Path.Combine(root, packages, "nvidia", "cublas", "lib");
            }
    }

    static IEnumerable<string> Glob(string dir, string pattern)
    {
        try
        {
            return Directory.Exists(dir) ? Directory.GetDirectories(dir, pattern) : [];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }
}
