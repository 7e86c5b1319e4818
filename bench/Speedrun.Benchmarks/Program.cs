using BenchmarkDotNet.Running;
using Speedrun.Benchmarks;
using DeviceKind = Speedrun.Kernels.Device.DeviceKind;

// dotnet run -c Release --project bench/Speedrun.Benchmarks -- --filter '*'
// dotnet run -c Release --project bench/Speedrun.Benchmarks -- --validate   (checks every kernel case once, no timing)
if (args is ["--validate"])
{
    TorchSharp.torch.set_num_threads(Environment.ProcessorCount);
    using var device = Device.Create(DeviceKind.Cpu);
    foreach (var op in KernelBenchmarks.Cases)
    {
        using (op)
        {
            op.Setup(device);
            op.Validate();
        }
        Console.WriteLine($"agrees: {op}");
    }
    return 0;
}
var summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success)) ? 1 : 0;
