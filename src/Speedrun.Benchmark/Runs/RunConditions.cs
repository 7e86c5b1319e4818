using System.Globalization;
using System.Runtime.InteropServices;

namespace Speedrun.Benchmark.Runs;

/// <summary>
/// What else the machine did while a program trained, so that a time taken under load can be told apart:
/// <paramref name="OtherCores"/> is the average number of CPU cores kept busy by anything but the run's own processes
/// (the machine's busy time from /proc/stat, less the CPU time of the training process and its descendants and of
/// this runner), <paramref name="StealFraction"/> the share of the machine's CPU time its hypervisor took, and
/// <paramref name="LoadAtStart"/> the 1-minute load average when the run began, on the machine's <paramref name="Cpus"/> CPUs.
/// </summary>
public sealed partial record RunConditions(double OtherCores, double StealFraction, double LoadAtStart, int Cpus)
{
    /// <summary>Above this many cores of other work, a run's time is flagged as taken under load.</summary>
    public const double BusyCores = 0.2;

    public bool UnderLoad => OtherCores > BusyCores;

    public string ToJson() => string.Create(CultureInfo.InvariantCulture,
        $"{{\"other_cores\": {OtherCores:F3}, \"steal_fraction\": {StealFraction:F4}, \"load_at_start\": {LoadAtStart:F2}, \"cpus\": {Cpus}}}");

    public static RunConditions? FromJson(string? json)
    {
        if (string.IsNullOrEmpty(json)) return null;
        using var doc = System.Text.Json.JsonDocument.Parse(json);
        var r = doc.RootElement;
        return new RunConditions(r.GetProperty("other_cores").GetDouble(), r.GetProperty("steal_fraction").GetDouble(),
            r.GetProperty("load_at_start").GetDouble(), r.GetProperty("cpus").GetInt32());
    }

    /// <summary>A snapshot taken before the training process starts; <see cref="Probe.Stop"/> after it was reaped.</summary>
    public sealed class Probe
    {
        readonly (long Busy, long Steal, long Total)? _stat;
        readonly double _ownCpu;
        readonly double _load;

        Probe((long, long, long)? stat, double ownCpu, double load) => (_stat, _ownCpu, _load) = (stat, ownCpu, load);

        public static Probe Start() => new(ReadStat(), OwnAndChildrenCpuSeconds(), ReadLoad());

        /// <summary>The conditions over <paramref name="wall"/>; null where /proc is not there to read.</summary>
        public RunConditions? Stop(TimeSpan wall)
        {
            if (_stat is not { } before || ReadStat() is not { } after || wall <= TimeSpan.Zero) return null;
            double ticks = 100.0; // USER_HZ: /proc/stat counts in hundredths of a second on Linux
            double busy = (after.Busy - before.Busy) / ticks;
            double steal = after.Total > before.Total ? (double)(after.Steal - before.Steal) / (after.Total - before.Total) : 0;
            double ours = OwnAndChildrenCpuSeconds() - _ownCpu;
            double other = Math.Max(0, (busy - ours) / wall.TotalSeconds);
            return new RunConditions(other, steal, _load, MachineCpus());
        }
    }

    static (long Busy, long Steal, long Total)? ReadStat()
    {
        try
        {
            var first = File.ReadLines("/proc/stat").First();
            var f = first.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(long.Parse).ToArray();
            // user nice system idle iowait irq softirq steal ...
            long busy = f[0] + f[1] + f[2] + f[5] + f[6];
            long steal = f.Length > 7 ? f[7] : 0;
            long total = f.Take(Math.Min(f.Length, 8)).Sum();
            return (busy, steal, total);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return null;
        }
    }

    /// <summary>The machine's CPUs as /proc/stat counts them (not this process's affinity, which taskset narrows).</summary>
    static int MachineCpus()
    {
        try
        {
            int n = File.ReadLines("/proc/stat").Count(l => l.StartsWith("cpu", StringComparison.Ordinal) && l.Length > 3 && char.IsDigit(l[3]));
            return n > 0 ? n : Environment.ProcessorCount;
        }
        catch (IOException) { return Environment.ProcessorCount; }
    }

    static double ReadLoad()
    {
        try { return double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], CultureInfo.InvariantCulture); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException) { return double.NaN; }
    }

    /// <summary>CPU seconds (user + system) of this process and of every child it has reaped.</summary>
    static double OwnAndChildrenCpuSeconds() => OperatingSystem.IsLinux() ? Seconds(Self) + Seconds(Children) : 0;

    /// <summary>CPU seconds (user + system) of the children this process has reaped, and of what they reaped.</summary>
    internal static double ReapedChildrenCpuSeconds() => OperatingSystem.IsLinux() ? Seconds(Children) : 0;

    static double Seconds(int who) =>
        GetRusage(who, out var u) == 0 ? u.UserSec + u.UserUsec / 1e6 + u.SystemSec + u.SystemUsec / 1e6 : 0;

    const int Self = 0, Children = -1;

    [StructLayout(LayoutKind.Sequential)]
    unsafe struct Rusage
    {
        public long UserSec, UserUsec, SystemSec, SystemUsec;
        public fixed long Rest[14];
    }

    [LibraryImport("libc", EntryPoint = "getrusage")]
    private static partial int GetRusage(int who, out Rusage usage);
}
