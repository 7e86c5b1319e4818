using System.Diagnostics;
using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;
using Speedrun.Kernels.Blas;
using Speedrun.Kernels.Runtime;
using Speedrun.Kernels.Native;
using Speedrun.Kernels.Numerics;
using Speedrun.Kernels.Ops;

namespace Speedrun.Cli.Doctor;

/// <summary>Optional doctor work: time records' training steps at full size (RecordStepTiming). Batches null: each
/// record's own micro-batch, halved while it does not fit. RecordsOnly skips the kernel, op, probe, GEMM and attention
/// sections (the GPU kit's records mode, which has the default mode's results already).</summary>
internal sealed record DoctorOptions(IReadOnlyList<string>? RecordDirs = null, string? Shard = null, int[]? Batches = null,
    int TimedSteps = 5, bool Profile = false, IReadOnlyList<string>? Overrides = null, int WarmupSteps = 3, bool RecordsOnly = false)
{
    /// <summary>Called with the report after every section (the command writes report.json then, so a run cut short by a
    /// time limit still leaves what it measured).</summary>
    public Action<DoctorReport>? Checkpoint { get; init; }
}

/// <summary>The checks behind `speedrun doctor`, in the order a person debugging a GPU box wants them.</summary>
internal static partial class DoctorRun
{
    public static DoctorReport Run(DeviceKind? kind, bool gemmSweep, TextWriter log, DoctorOptions? options = null)
    {
        options ??= new DoctorOptions();
        var report = new DoctorReport();
        var env = report.Environment;
        env["os"] = RuntimeInformation.OSDescription;
        env[".net"] = RuntimeInformation.FrameworkDescription;
        env["ilgpu"] = typeof(Context).Assembly.GetName().Version?.ToString() ?? "?";
        env["cpu threads"] = Environment.ProcessorCount.ToString();
        NativeLibraries.EnsureResolvers();
        var driver = NativeLibraries.Load(NativeLibraries.CudaDriver);
        env["libcuda"] = driver.Success ? driver.LoadedFrom! : "not found; tried " + string.Join(", ", driver.Tried);
        env["sandbox"] = Benchmark.Runs.Sandbox.Current is { } sandbox
            ? $"{sandbox.Version}: runs are sandboxed"
            : $"none ({Benchmark.Runs.Sandbox.Unavailable}): runs are stored as unsandboxed";
        Print(log, report);

        Device device;
        try
        {
            device = Device.Create(kind);
        }
        catch (Exception e)
        {
            report.Errors.Add($"opening the device failed: {e.GetType().Name}: {e.Message}");
            log.WriteLine(report.Errors[^1]);
            return report;
        }
        using (device)
        {
            env["device"] = device.Describe().ToString();
            env["launch shape"] = device.Launch.ToString();
            log.WriteLine($"device: {env["device"]}");
            try
            {
                env["blas"] = device.Blas.Description;
            }
            catch (Exception e)
            {
                report.Errors.Add($"BLAS failed to load: {e.Message}");
            }
            log.WriteLine($"blas: {(env.TryGetValue("blas", out var b) ? b : "unavailable")}");

            if (options.RecordsOnly)
            {
                report.Notes.Add("--records-only: the kernel, op, probe, GEMM and attention sections were skipped.");
            }
            else if (device.IsCuda)
            {
                using var cpu = Device.Create(DeviceKind.Cpu);
                device.Accelerator.Bind();
                RunStep(report, log, options, "kernel agreement", () => KernelChecks.Run(device, cpu, report, log));
                RunStep(report, log, options, "engine op agreement (op specs)", () => OpSpecChecks.Run(device, cpu, report, log));
                device.Accelerator.Bind();
                RunStep(report, log, options, "launch and bandwidth probes", () => Probes(device, report, log));
            }
            else
            {
                report.Notes.Add("Running on the CPU: kernel agreement and GEMM throughput are GPU checks; " +
                                 "the CPU kernels are checked against TorchSharp by `dotnet test`.");
            }
            if (gemmSweep && device.IsCuda && !options.RecordsOnly)
                RunStep(report, log, options, "GEMM throughput", () => GemmThroughput.Run(device, report, log));
            device.Accelerator.Bind();
            if (!options.RecordsOnly)
                RunStep(report, log, options, "attention timing", () => AttentionTiming.Run(device, options.Shard, report, log));
            foreach (var record in options.RecordDirs ?? [])
            {
                device.Accelerator.Bind();
                // Never throws: a record that cannot run is a failure in the report, and the next one is timed.
                RunStep(report, log, options, $"record step timing ({record})", () => RecordStepTiming.Run(device, record, options, report, log));
            }
        }
        log.WriteLine(report.Failures == 0 ? "doctor: all checks passed" : $"doctor: {report.Failures} problem(s)");
        return report;
    }

    static void RunStep(DoctorReport report, TextWriter log, DoctorOptions options, string name, Action step)
    {
        var sw = Stopwatch.StartNew();
        try
        {
            step();
            log.WriteLine($"[{name}] done in {sw.Elapsed.TotalSeconds:F1} s");
        }
        catch (Exception e)
        {
            report.Errors.Add($"{name}: {e.GetType().Name}: {e.Message}");
            log.WriteLine($"[{name}] FAILED: {e}");
        }
        options.Checkpoint?.Invoke(report);
    }

    static void Print(TextWriter log, DoctorReport report)
    {
        foreach (var (k, v) in report.Environment) log.WriteLine($"{k}: {v}");
    }

    /// <summary>Launch overhead (host µs per launch, device µs per launch) and copy bandwidth.</summary>
    static void Probes(Device device, DoctorReport report, TextWriter log)
    {
        var ops = device.Elementwise();
        using var tiny = device.Accelerator.Allocate1D<float>(1);
        ops.Fill(tiny.View, 1f);
        device.Synchronize();
        const int launches = 2000;
        using var timer = device.CreateTimer();
        var sw = Stopwatch.StartNew();
        timer.Start();
        for (int i = 0; i < launches; i++) ops.Fill(tiny.View, i);
        double deviceMs = timer.StopMilliseconds();
        double hostUs = sw.Elapsed.TotalMilliseconds * 1000 / launches;
        report.Notes.Add($"launch overhead: {hostUs:F1} µs host time per launch, {deviceMs * 1000 / launches:F1} µs device time per launch ({launches} tiny Fill launches)");

        long n = 256L << 20; // 1 GiB of floats each way
        using var src = device.Accelerator.Allocate1D<float>(n);
        using var dst = device.Accelerator.Allocate1D<float>(n);
        ops.Fill(src.View, 1.5f);
        ops.Copy(src.View, dst.View);
        var times = new List<double>();
        for (int rep = 0; rep < 5; rep++)
        {
            timer.Start();
            ops.Copy(src.View, dst.View);
            times.Add(timer.StopMilliseconds());
        }
        times.Sort();
        double gbs = 2.0 * n * 4 / (times[2] / 1000) / 1e9;
        report.Notes.Add($"copy kernel (scalar fp32 loads, grid-stride): {gbs:F0} GB/s counting bytes read + written ({n * 4 >> 20} MiB each way, median of 5)");
        foreach (var note in report.Notes.TakeLast(2)) log.WriteLine(note);
    }
}
