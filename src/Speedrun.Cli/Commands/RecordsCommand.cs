using System.CommandLine;
using System.Globalization;
using Speedrun.Cli.Support;
using Speedrun.Benchmark.Catalog;

namespace Speedrun.Cli.Commands;

/// <summary>`speedrun records`: the catalog, one row per record: whether it has a training program yet, and
/// whether the task that starts from it is open.</summary>
internal static class RecordsCommand
{
    public static Command Create()
    {
        var command = new Command("records", "List the records, which are runnable (have a Train.cs) and which tasks are open.");
        command.SetAction(_ => UserErrors.Guard(Show));
        return command;
    }

    static int Show()
    {
        var catalog = BenchmarkCatalog.LoadDefault();
        var rows = catalog.Table();
        TableView.Write(
            ["#", "record", "date", "official", "changes", "runnable", "task N→N+1 open"],
            rows.Select(r => (IReadOnlyList<string>)[
                r.Number.ToString(CultureInfo.InvariantCulture), r.Name, r.Date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
                r.OfficialTimeMinutes.ToString("0.##", CultureInfo.InvariantCulture) + " min", r.ClassesText, r.RunnableText, r.TaskText]),
            title: $"Records in {catalog.Root}");
        var runnable = rows.Where(r => r.Runnable).Select(r => r.Number).ToList();
        var open = rows.Where(r => r.TaskOpen).Select(r => r.Number).ToList();
        Console.WriteLine();
        Console.WriteLine($"runnable records: {(runnable.Count == 0 ? "none" : string.Join(", ", runnable))}");
        Console.WriteLine(open.Count == 0
            ? "open tasks: none yet (a task N opens once records N and N+1 both have a Train.cs)"
            : $"open tasks: {string.Join(", ", open)} (start one with `speedrun task N --hints none --out DIR`)");
        foreach (var e in catalog.ExcludedTransitions)
            Console.WriteLine($"not a task: record {e.From} to {e.To}: {e.Reason}");
        return 0;
    }
}
