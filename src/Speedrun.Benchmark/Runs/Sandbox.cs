using System.Diagnostics;

namespace Speedrun.Benchmark.Runs;

/// <summary>What one sandboxed child may see: paths bound read-only, paths bound writable, its working directory, its
/// HOME, the run's variables (its environment is these and <see cref="Sandbox.BaseEnvironment"/>, nothing of the
/// parent's), and whether it gets the GPU's device nodes.</summary>
public sealed record SandboxSpec(
    IReadOnlyList<string> ReadOnly, IReadOnlyList<string> Writable, string WorkingDirectory, string Home,
    IEnumerable<KeyValuePair<string, string>> Variables, bool Gpu);

/// <summary>
/// Runs a child of the runner under bubblewrap: new user, pid, network, IPC and UTS namespaces (no network, and
/// every process of the run dies with it: when the child exits or the runner dies, the namespace's processes are
/// killed), a private /tmp, an empty environment but for what the spec sets, and a file system that holds only the
/// system's libraries (/usr, /lib*, /bin, a few files of /etc), the .NET runtime, the speedrun binaries and the
/// spec's paths. The repository, the results store, other runs, HOME and the validation shards are simply not there.
/// </summary>
public sealed class Sandbox
{
    /// <summary>Set to "off" to run children without a sandbox (they are then stored as unsandboxed).</summary>
    public const string SwitchVar = "SPEEDRUN_SANDBOX";

    /// <summary>Size of the child's private /tmp.</summary>
    public const long TmpBytes = 1L << 30;

    static readonly string[] SystemDirs = ["/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin"];
    static readonly string[] EtcFiles =
        ["/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/nsswitch.conf", "/etc/localtime", "/etc/alternatives"];
    static readonly Lazy<(Sandbox? Sandbox, string Why)> Detected = new(DetectOnce);

    Sandbox(string bwrap, string version) => (Bwrap, Version) = (bwrap, version);

    /// <summary>The bwrap executable.</summary>
    public string Bwrap { get; }

    /// <summary>"bubblewrap 0.8.0": what the store records for a sandboxed run.</summary>
    public string Version { get; }

    /// <summary>The sandbox runs use here, or null (see <see cref="Unavailable"/>).</summary>
    public static Sandbox? Current => Detected.Value.Sandbox;

    /// <summary>Why there is no sandbox, when there is none.</summary>
    public static string Unavailable => Detected.Value.Why;

    /// <summary>What the store records for an unsandboxed run.</summary>
    public const string None = "none";

    static (Sandbox?, string) DetectOnce()
    {
        if (string.Equals(Environment.GetEnvironmentVariable(SwitchVar), "off", StringComparison.OrdinalIgnoreCase))
            return (null, $"{SwitchVar}=off");
        var bwrap = (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':')
            .Select(d => Path.Combine(d, "bwrap")).FirstOrDefault(File.Exists);
        if (bwrap is null) return (null, "bubblewrap (bwrap) is not installed; on Debian or Ubuntu: apt-get install bubblewrap");
        var (code, output) = RunQuietly(bwrap, ["--version"]);
        if (code != 0) return (null, $"{bwrap} --version failed: {output}");
        var version = output.Trim();
        // The namespaces it needs may be forbidden (some containers): try them once.
        (code, output) = RunQuietly(bwrap, ["--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "--proc", "/proc", "--dev", "/dev", "true"]);
        if (code != 0) return (null, $"{version} cannot create its namespaces here: {output.Trim()}");
        return (new Sandbox(bwrap, version), "");
    }

    static (int Code, string Output) RunQuietly(string file, string[] args)
    {
        try
        {
            var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in args) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            var output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
            if (!p.WaitForExit(10_000)) { p.Kill(true); return (-1, "timed out"); }
            return (p.ExitCode, output);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, e.Message);
        }
    }

    /// <summary>The command that runs <paramref name="host"/> inside this sandbox as <paramref name="spec"/> says.</summary>
    public ProgramHost Wrap(ProgramHost host, SandboxSpec spec)
    {
        var args = new List<string>
        {
            // --as-pid-1: the program itself is the new PID namespace's first process, so that when it ends its CPU time
            // (and its reaped children's) reaches the runner's RUSAGE_CHILDREN. Behind bwrap's own init it never
            // did, and RunConditions counted every sandboxed run's own training as other work.
            "--unshare-all", "--as-pid-1", "--die-with-parent", "--new-session", "--clearenv",
            "--proc", "/proc", "--dev", "/dev", "--size", TmpBytes.ToString(System.Globalization.CultureInfo.InvariantCulture), "--tmpfs", "/tmp",
        };
        foreach (var dir in SystemDirs) args.AddRange(["--ro-bind-try", dir, dir]);
        foreach (var file in EtcFiles) args.AddRange(["--ro-bind-try", file, file]);
        // The .NET runtime and the speedrun binaries, wherever they are installed.
        foreach (var path in RuntimePaths(host)) args.AddRange(["--ro-bind", path, path]);
        foreach (var path in spec.ReadOnly.Distinct()) args.AddRange(["--ro-bind", path, path]);
        foreach (var path in spec.Writable.Distinct()) args.AddRange(["--bind", path, path]);
        if (spec.Gpu)
        {
            foreach (var node in Directory.Exists("/dev") ? Directory.GetFiles("/dev", "nvidia*") : [])
                args.AddRange(["--dev-bind", node, node]);
            args.AddRange(["--ro-bind-try", "/sys", "/sys"]);
        }
        var environment = BaseEnvironment(spec.Home);
        foreach (var (k, v) in host.Environment.Concat(spec.Variables)) environment[k] = v;
        foreach (var (k, v) in environment) args.AddRange(["--setenv", k, v]);
        args.AddRange(["--chdir", spec.WorkingDirectory, "--", host.FileName]);
        args.AddRange(host.PrefixArguments);
        return new ProgramHost(Bwrap, args);
    }

    /// <summary>The runtime's folder and the folder of every file the host command names: the speedrun assembly, or
    /// the self-contained single-file speedrun behind prlimit (whose extracted files are AppContext.BaseDirectory).</summary>
    static IEnumerable<string> RuntimePaths(ProgramHost host)
    {
        var paths = new List<string> { Path.GetDirectoryName(Path.GetFullPath(ResolveLinks(host.FileName)))!, AppContext.BaseDirectory.TrimEnd('/') };
        var runtime = Path.GetDirectoryName(typeof(object).Assembly.Location); // .../shared/Microsoft.NETCore.App/<version>
        if (!string.IsNullOrEmpty(runtime)) paths.Add(Path.GetFullPath(Path.Combine(runtime, "..", "..", "..")));
        foreach (var a in host.PrefixArguments.Where(a => Path.IsPathRooted(a) && File.Exists(a)))
            paths.Add(Path.GetDirectoryName(Path.GetFullPath(ResolveLinks(a)))!);
        return paths.Where(p => !SystemDirs.Any(s => p == s || p.StartsWith(s + "/", StringComparison.Ordinal))).Distinct();
    }

    static string ResolveLinks(string path)
    {
        var info = new FileInfo(path);
        return info.LinkTarget is not null ? info.ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? path : path;
    }

    /// <summary>The environment a sandboxed .NET child needs besides the run's own variables.</summary>
    public static Dictionary<string, string> BaseEnvironment(string home)
    {
        var env = new Dictionary<string, string>
        {
            ["PATH"] = "/usr/bin:/bin",
            ["HOME"] = home,
            ["TMPDIR"] = "/tmp",
            ["LANG"] = "C.UTF-8",
            ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
        };
        // Settings that change how .NET runs the program (thread count, GC, the runtime's location) pass through, so a
        // sandboxed run behaves as an unsandboxed one would.
        foreach (var name in new[] { "DOTNET_PROCESSOR_COUNT", "DOTNET_ROOT", "DOTNET_gcServer", "DOTNET_GCgen0size", "DOTNET_TieredPGO",
                                     "DOTNET_TieredCompilation", "DOTNET_ReadyToRun", "DOTNET_BUNDLE_EXTRACT_BASE_DIR", "CUDA_VISIBLE_DEVICES",
                                     "LD_LIBRARY_PATH" })
            if (Environment.GetEnvironmentVariable(name) is { Length: > 0 } value) env[name] = value;
        return env;
    }
}
