using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace Speedrun.Benchmarks;

/// <summary>
/// The configuration the op, kernel and training benchmarks share: in-process runs (libtorch is 600 MB, and
/// our Roslyn-compiled training program lives in this process), a fixed short job, managed allocations,
/// and one custom column that turns the mean time into a throughput the benchmark class defines.
/// </summary>
abstract class InProcessConfig : ManualConfig
{
    protected InProcessConfig(string throughputName, string throughputLegend,
        Func<BenchmarkCase, double, string> throughput, int warmups, int iterations, int parameterWidth = 48)
    {
        AddJob(Job.Default
            .WithToolchain(InProcessEmitToolchain.Instance)
            .WithLaunchCount(1)
            .WithWarmupCount(warmups)
            .WithIterationCount(iterations)
            .WithId("InProcess"));
        AddDiagnoser(MemoryDiagnoser.Default);
        AddColumn(new ThroughputColumn(throughputName, throughputLegend, throughput));
        SummaryStyle = SummaryStyle.Default.WithMaxParameterColumnWidth(parameterWidth);
    }

    /// <summary>A column computed from one benchmark case and its mean time in seconds.</summary>
    sealed class ThroughputColumn(string name, string legend, Func<BenchmarkCase, double, string> value) : IColumn
    {
        public string Id => "Throughput." + name;
        public string ColumnName => name;
        public bool AlwaysShow => true;
        public ColumnCategory Category => ColumnCategory.Custom;
        public int PriorityInCategory => 0;
        public bool IsNumeric => false;
        public UnitType UnitType => UnitType.Dimensionless;
        public string Legend => legend;
        public bool IsAvailable(Summary summary) => true;
        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) =>
            GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) =>
            summary[benchmarkCase]?.ResultStatistics is { } stats
                ? value(benchmarkCase, stats.Mean * 1e-9) // BenchmarkDotNet reports nanoseconds
                : "NA";
    }
}
