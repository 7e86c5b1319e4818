using Spectre.Console;

namespace Speedrun.Cli.Support;

/// <summary>Prints a table: with Spectre.Console on a terminal, as aligned plain text when output is redirected
/// (so that scripts and tests read the same columns).</summary>
internal static class TableView
{
    public static void Write(IReadOnlyList<string> header, IEnumerable<IReadOnlyList<string>> rows, string? title = null)
    {
        var data = rows.ToList();
        if (Console.IsOutputRedirected)
        {
            if (title is not null) Console.WriteLine(title);
            var widths = header.Select((h, i) => Math.Max(h.Length, data.Count == 0 ? 0 : data.Max(r => r[i].Length))).ToArray();
            string Line(IReadOnlyList<string> cells) => string.Join("  ", cells.Select((c, i) => c.PadRight(widths[i]))).TrimEnd();
            Console.WriteLine(Line(header));
            Console.WriteLine(string.Join("  ", widths.Select(w => new string('-', w))));
            foreach (var row in data) Console.WriteLine(Line(row));
            return;
        }
        var table = new Table().Border(TableBorder.Rounded);
        if (title is not null) table.Title(new TableTitle(Markup.Escape(title)));
        for (int i = 0; i < header.Count; i++)
        {
            // Short columns (numbers, intervals, verdicts) never wrap; long text wraps on a narrow terminal.
            var column = new TableColumn(Markup.Escape(header[i]));
            if (data.All(r => r[i].Length <= 18)) column.NoWrap();
            table.AddColumn(column);
        }
        foreach (var row in data) table.AddRow(row.Select(c => (Spectre.Console.Rendering.IRenderable)new Text(c)).ToArray());
        AnsiConsole.Write(table);
    }
}
