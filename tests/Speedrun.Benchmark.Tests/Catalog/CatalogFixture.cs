using System.Text.Json;
using System.Text.Json.Nodes;

namespace Speedrun.Benchmark.Tests.Catalog;

/// <summary>
/// A throw-away repository with three tiny records: 01-alpha and 02-beta have a Train.cs (task 1 is open),
/// 03-gamma has none (task 2 is not open). Hints exist for tasks 1 and 2; one track, tiny.
/// </summary>
internal sealed class CatalogFixture : IDisposable
{
    public string Root { get; }

    public const string AlphaTrain = "// record 1\nvar steps = 10;\nConsole.WriteLine(\"alpha\");\n";
    public const string BetaTrain = "// record 2\nvar steps = 8;\nConsole.WriteLine(\"beta\");\n";

    public CatalogFixture()
    {
        Root = Path.Combine(Path.GetTempPath(), "speedrun-catalog-" + Guid.NewGuid().ToString("N"));
        WriteRecord(1, "alpha", "Alpha record", ["baseline"], AlphaTrain);
        WriteRecord(2, "beta", "Beta record", ["algorithmic"], BetaTrain);
        WriteRecord(3, "gamma", "Gamma record", ["systems"], train: null);
        for (int task = 1; task <= 2; task++)
        {
            var dir = Directory.CreateDirectory(Path.Combine(Root, "hints", $"{task:D2}")).FullName;
            File.WriteAllText(Path.Combine(dir, "level1-pseudocode.md"), $"# pseudocode for task {task}\n");
            File.WriteAllText(Path.Combine(dir, "level2-description.md"), $"# description for task {task}\n");
            File.WriteAllText(Path.Combine(dir, "level3-paper.md"), $"# paper for task {task}\n");
        }
        var tracks = Directory.CreateDirectory(Path.Combine(Root, "tracks")).FullName;
        File.WriteAllText(Path.Combine(tracks, "tiny.json"), """
            {
              "name": "tiny",
              "description": "fixture track",
              "device": "cpu",
              "data": "default-corpus",
              "val_tokens": 4096,
              "target_val_loss": 6.0,
              "time_limit_minutes": 5
            }
            """);
    }

    public static JsonObject RecordJson(int number, string slug, string name, string[] classes) => new()
    {
        ["number"] = number,
        ["slug"] = slug,
        ["name"] = name,
        ["date"] = "2024-06-0" + number,
        ["official_time_minutes"] = 10.0 / number,
        ["description"] = $"{name} does something.",
        ["change_classes"] = new JsonArray([.. classes.Select(c => (JsonNode)JsonValue.Create(c)!)]),
        ["steps"] = 100 * number,
        ["target_val_loss"] = 3.28,
        ["harness_time_ms"] = null,
        ["harness_val_loss"] = null,
    };

    public void WriteRecord(int number, string slug, string name, string[] classes, string? train) =>
        WriteRecordJson($"{number:D2}-{slug}", RecordJson(number, slug, name, classes), train);

    public string WriteRecordJson(string folder, JsonNode json, string? train = null)
    {
        var dir = Directory.CreateDirectory(Path.Combine(Root, "records", folder)).FullName;
        File.WriteAllText(Path.Combine(dir, "record.json"), json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        if (train is not null) File.WriteAllText(Path.Combine(dir, "Train.cs"), train);
        return Path.Combine(dir, "record.json");
    }

    public string NewWorkspacePath() => Path.Combine(Root, "workspaces", Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
