using System.CommandLine;
using Speedrun.Cli.Doctor;
using Speedrun.Kernels.Runtime;

namespace Speedrun.Cli.Commands;

/// <summary>`speedrun doctor`: what hardware and libraries the engine sees, whether every kernel agrees
/// with the CPU, and how fast GEMMs run. Writes report.md and report.json when --out is given.</summary>
internal static class DoctorCommand
{
    public static Command Create()
    {
        var device = new Option<string>("--device") { Description = "cpu, cuda or auto", DefaultValueFactory = _ => "auto" };
        var output = new Option<string?>("--out") { Description = "Folder for report.md and report.json" };
        var quick = new Option<bool>("--quick") { Description = "Skip the GEMM throughput sweep" };
        var record = new Option<string[]>("--record")
        {
            Description = "Also time these records' training steps at full size (e.g. records/01-llmc-baseline records/12-flex-attention)",
            AllowMultipleArgumentsPerToken = true,
        };
        var shard = new Option<string?>("--shard") { Description = "Token shard for --record (default: random tokens)" };
        var batch = new Option<int[]?>("--micro-batch") { Description = "Micro-batch sizes to try, largest first (default: the record's own, halved twice)", AllowMultipleArgumentsPerToken = true };
        var profile = new Option<bool>("--profile") { Description = "With --record: add one profiled step (device time per op)" };
        var hp = new Option<string[]>("--hp") { Description = "With --record: override a hyperparameter, Name=Value (repeatable)" };
        var steps = new Option<int>("--steps") { Description = "Timed steps for --record", DefaultValueFactory = _ => 5 };
        var warmup = new Option<int>("--warmup") { Description = "Untimed steps before them", DefaultValueFactory = _ => 3 };
        var recordsOnly = new Option<bool>("--records-only") { Description = "With --record: skip the kernel, op, probe, GEMM and attention sections" };
        var command = new Command("doctor", "Check the device, the native libraries and every kernel; time GEMMs.")
        {
            device, output, quick, record, shard, batch, steps, warmup, profile, hp, recordsOnly,
        };
        command.SetAction(parse =>
        {
            var options = new DoctorOptions(parse.GetValue(record) ?? [], parse.GetValue(shard), parse.GetValue(batch), parse.GetValue(steps),
                parse.GetValue(profile), parse.GetValue(hp) ?? [], parse.GetValue(warmup), parse.GetValue(recordsOnly))
            {
                Checkpoint = parse.GetValue(output) is { } partial ? r => r.Write(partial) : null,
            };
            var report = DoctorRun.Run(DeviceKinds.Parse(parse.GetValue(device)), !parse.GetValue(quick), Console.Out, options);
            if (parse.GetValue(output) is { } dir) report.Write(dir);
            return report.Failures == 0 ? 0 : 1;
        });
        return command;
    }
}
