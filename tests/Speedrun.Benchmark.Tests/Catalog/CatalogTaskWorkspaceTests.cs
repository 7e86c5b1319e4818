using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Speedrun.Benchmark.Catalog;
using Speedrun.Benchmark.Tasks;

namespace Speedrun.Benchmark.Tests.Catalog;

/// <summary>The agent workspace writer, on the fixture repository.</summary>
public sealed class CatalogTaskWorkspaceTests : IDisposable
{
    private readonly CatalogFixture _fx = new();
    private readonly BenchmarkCatalog _catalog;

    public CatalogTaskWorkspaceTests() => _catalog = BenchmarkCatalog.Load(_fx.Root);

    public void Dispose() => _fx.Dispose();

    [Fact]
    public void Writes_train_hints_instructions_and_manifest()
    {
        var dir = _fx.NewWorkspacePath();
        var manifest = TaskWorkspace.Write(_catalog, 1, HintSelection.Parse("1,2,3"), dir);

        Assert.Equal(CatalogFixture.AlphaTrain, File.ReadAllText(Path.Combine(dir, "Train.cs")));
        Assert.Equal("# pseudocode for task 1\n", File.ReadAllText(Path.Combine(dir, "hints", "level1-pseudocode.md")));
        Assert.Equal("# description for task 1\n", File.ReadAllText(Path.Combine(dir, "hints", "level2-description.md")));
        Assert.Equal("# paper for task 1\n", File.ReadAllText(Path.Combine(dir, "hints", "level3-paper.md")));
        Assert.False(File.Exists(Path.Combine(dir, "hints", "level0-diff.patch")));

        var files = Directory.GetFiles(dir, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(dir, f).Replace('\\', '/')).Order().ToList();
        Assert.Equal(manifest.Files.Append("task.json").Order(), files);

        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "task.json")))!;
        Assert.Equal(1, (int)json["task"]!);
        Assert.Matches("^[0-9a-f]{32}$", (string)json["workspace_id"]!); // the store's key for this workspace
        Assert.Equal(2, (int)json["format"]!);
        Assert.Equal(1, (int)json["start_record"]!["number"]!);
        Assert.Equal("alpha", (string)json["start_record"]!["slug"]!);
        Assert.Equal(2, (int)json["next_record"]!);
        Assert.Equal("1,2,3", (string)json["hint_selection"]!);
        Assert.Equal([1, 2, 3], json["hint_levels"]!.AsArray().Select(n => (int)n!));
        Assert.Equal("Train.cs", (string)json["train_file"]!);
        var sha = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(CatalogFixture.AlphaTrain)));
        Assert.Equal(sha, (string)json["start_train_sha256"]!);
        Assert.Equal("tiny", (string)json["tracks"]![0]!["name"]!);
        Assert.Equal(6.0, (double)json["tracks"]![0]!["target_val_loss"]!);
        Assert.True(DateTimeOffset.UtcNow - DateTimeOffset.Parse((string)json["created_utc"]!) < TimeSpan.FromMinutes(5));

        var loaded = TaskManifest.Load(dir);
        Assert.Equal(manifest.StartTrainSha256, loaded.StartTrainSha256);
        Assert.Equal(manifest.Files, loaded.Files);
        Assert.True(loaded.IsTrainUnchanged(dir));
        File.AppendAllText(Path.Combine(dir, "Train.cs"), "// agent edit\n");
        Assert.False(loaded.IsTrainUnchanged(dir));
    }

    [Fact]
    public void Task_md_states_goal_contract_timing_and_scoring_without_naming_the_next_record()
    {
        var dir = _fx.NewWorkspacePath();
        TaskWorkspace.Write(_catalog, 1, HintSelection.None, dir);
        var text = File.ReadAllText(Path.Combine(dir, "TASK.md"));
        Assert.Contains("record 1", text);
        Assert.Contains("Alpha record", text);
        Assert.DoesNotContain("Beta record", text);
        Assert.DoesNotContain("beta", text);
        Assert.Contains("through the run context (`NextTrainBatch`)", text);
        Assert.Contains("step:{s}/{total} val_loss:... train_time:...", text);
        Assert.Contains("End training with `ctx.SaveModel(model)`", text);
        Assert.Contains("`ILanguageModel<TSelf>`", text);
        Assert.Contains("The harness times the training process itself", text);
        Assert.Contains("a model that looks ahead is `invalid`", text);
        Assert.Contains("compiles against the .NET base library, Speedrun.Core, Speedrun.Kernels and ILGPU", text);
        Assert.Contains("`API.md` lists that API", text);
        Assert.Contains("### class Tensor", File.ReadAllText(Path.Combine(dir, "API.md")));
        Assert.Contains("speedrun run DIR --track T", text);
        Assert.Contains("FSR = (t_1 - t_agent) / (t_1 - t_2)", text);
        Assert.Contains("| tiny | cpu | 6.0 |", text);
        Assert.False(Directory.Exists(Path.Combine(dir, "hints")));

        var manifestText = File.ReadAllText(Path.Combine(dir, "task.json"));
        Assert.DoesNotContain("Beta", manifestText);
        Assert.Contains("\"hint_levels\": []", manifestText);
    }

    [Fact]
    public void Level0_writes_the_generated_diff()
    {
        var dir = _fx.NewWorkspacePath();
        TaskWorkspace.Write(_catalog, 1, HintSelection.Parse("0"), dir);
        var diff = File.ReadAllText(Path.Combine(dir, "hints", "level0-diff.patch"));
        Assert.Equal(HintLevels.Level0Diff(CatalogFixture.AlphaTrain, CatalogFixture.BetaTrain), diff);
        Assert.Contains("-var steps = 10;", diff);
        Assert.Contains("+var steps = 8;", diff);
        Assert.Equal(diff, _catalog.GetTask(1).ReadHint(HintLevels.Diff));
    }

    [Fact]
    public void Existing_empty_folder_is_used()
    {
        var dir = Directory.CreateDirectory(_fx.NewWorkspacePath()).FullName;
        TaskWorkspace.Write(_catalog, 1, HintSelection.Parse("2"), dir);
        Assert.True(File.Exists(Path.Combine(dir, "hints", "level2-description.md")));
    }

    [Fact]
    public void Refuses_a_non_empty_folder_and_leaves_it_alone()
    {
        var dir = Directory.CreateDirectory(_fx.NewWorkspacePath()).FullName;
        File.WriteAllText(Path.Combine(dir, "notes.txt"), "mine");
        var e = Assert.Throws<IOException>(() => TaskWorkspace.Write(_catalog, 1, HintSelection.Parse("1"), dir));
        Assert.Contains(dir, e.Message);
        Assert.Contains("not empty", e.Message);
        Assert.Equal(["notes.txt"], Directory.GetFileSystemEntries(dir).Select(Path.GetFileName));

        var file = Path.Combine(_fx.Root, "a-file");
        File.WriteAllText(file, "x");
        Assert.Throws<IOException>(() => TaskWorkspace.Write(_catalog, 1, HintSelection.None, file));
    }

    [Fact]
    public void Refuses_a_task_that_is_not_runnable_naming_the_missing_train_file()
    {
        var dir = _fx.NewWorkspacePath();
        var e = Assert.Throws<InvalidOperationException>(() => TaskWorkspace.Write(_catalog, 2, HintSelection.Parse("1"), dir));
        Assert.Contains(Path.Combine("03-gamma", "Train.cs"), e.Message);
        Assert.Contains("not open", e.Message);
        Assert.False(Directory.Exists(dir));
    }

    [Fact]
    public void Refuses_unknown_task_and_missing_hint_file()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => TaskWorkspace.Write(_catalog, 3, HintSelection.None, _fx.NewWorkspacePath()));

        var hint = Path.Combine(_fx.Root, "hints", "01", "level3-paper.md");
        File.Delete(hint);
        var catalog = BenchmarkCatalog.Load(_fx.Root);
        var dir = _fx.NewWorkspacePath();
        var e = Assert.Throws<FileNotFoundException>(() => TaskWorkspace.Write(catalog, 1, HintSelection.Parse("1,2,3"), dir));
        Assert.Contains(hint, e.Message);
        Assert.False(Directory.Exists(dir));
    }
}
