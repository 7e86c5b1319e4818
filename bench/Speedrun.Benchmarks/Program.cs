using BenchmarkDotNet.Running;
using Speedrun.Benchmarks;
using DeviceKind = Speedrun.Kernels.Runtime.DeviceKind;

// dotnet run -c Release --project bench/Speedrun.Benchmarks -- --filter '*'
// dotnet run -c Release --project bench/Speedrun.Benchmarks -- --filter '*OpSpec*' --ops gelu,softmax   (named op specs only)
// dotnet run -c Release --project bench/Speedrun.Benchmarks -- --validate   (checks every case once, no timing)
int opsAt = Array.IndexOf(args, "--ops");
if (opsAt >= 0)
{
    if (opsAt + 1 >= args.Length) return Usage("--ops needs a comma-separated list of op spec names");
    var names = args[opsAt + 1].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet();
    var known = Speedrun.Benchmark.OpSpecs.AllOpSpecs.All.Select(s => s.Name).ToHashSet();
    if (names.Except(known).ToList() is { Count: > 0 } unknown)
        return Usage($"no op spec named {string.Join(", ", unknown)}; the specs are: {string.Join(", ", known)}");
    OpSpecBenchmarks.Only = names;
    args = [.. args[..opsAt], .. args[(opsAt + 2)..]];
}
if (args is ["--validate"]) return Validate();
var summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success)) ? 1 : 0;

// Every case's [GlobalSetup] check, without timing: the op specs and the kernel cases against TorchSharp on one
// CPU device, then the training step's first two steps against TorchSharp's. Goes on after a failure.
static int Validate()
{
    TorchSharp.torch.set_num_threads(Environment.ProcessorCount);
    int cases = 0, failures = 0;
    void Check(string name, Action validate)
    {
        cases++;
        try
        {
            validate();
            Console.WriteLine($"agrees: {name}");
        }
        catch (Exception e)
        {
            failures++;
            Console.WriteLine($"FAILS:  {name}: {e.Message}");
        }
    }
    using (var device = Device.Create(DeviceKind.Cpu))
    {
        foreach (var op in OpSpecBenchmarks.Cases)
            using (op) Check($"op {op}", () => { op.Setup(device); op.Validate(); });
        foreach (var op in KernelBenchmarks.Cases)
            using (op) Check($"kernel {op}", () => { op.Setup(device); op.Validate(); });
    }
    Check("training step of record 1, tiny track", () =>
    {
        var training = new TrainingBenchmarks();
        try { training.Setup(); }
        finally { training.Cleanup(); }
    });
    Console.WriteLine(failures == 0 ? $"all {cases} cases agree" : $"{failures} of {cases} cases disagree");
    return failures == 0 ? 0 : 1;
}

static int Usage(string problem)
{
    Console.Error.WriteLine($"bench: {problem}");
    return 2;
}
