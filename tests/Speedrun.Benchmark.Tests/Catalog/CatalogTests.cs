using System.Text.Json.Nodes;
using Speedrun.Benchmark.Catalog;
using Speedrun.Core.Training;

namespace Speedrun.Benchmark.Tests.Catalog;

/// <summary>Checks the repository's real catalog: records 1-21, tasks, hint files and tracks.</summary>
public sealed class CatalogTests
{
    private static readonly string RepoRoot = BenchmarkCatalog.FindRoot(AppContext.BaseDirectory, home: null);
    private static readonly BenchmarkCatalog Real = BenchmarkCatalog.Load(RepoRoot);

    [Fact]
    public void Records_are_1_to_21_with_all_fields()
    {
        Assert.Equal(21, Real.Records.Count);
        for (int i = 0; i < Real.Records.Count; i++)
        {
            var r = Real.Records[i];
            Assert.Equal(i + 1, r.Number);
            Assert.Equal($"{r.Number:D2}-{r.Slug}", Path.GetFileName(r.Directory));
            Assert.False(string.IsNullOrWhiteSpace(r.Name));
            Assert.True(r.Description.Length > 40, $"record {r.Number}: description too short");
            Assert.NotEmpty(r.ChangeClasses);
            Assert.All(r.ChangeClasses, c => Assert.Contains(c, ChangeClass.All));
            Assert.True(r.Steps > 0);
            Assert.Equal(3.28, r.TargetValLoss);
            Assert.True(r.OfficialTimeMinutes > 0);
            Assert.NotNull(r.HarnessTimeMs);
            Assert.NotNull(r.HarnessValLoss);
            Assert.NotEmpty(r.Contributors);
        }
        Assert.Equal("01-llmc-baseline", Real.Records[0].FolderName);
        Assert.Equal([ChangeClass.Baseline], Real.Records[0].ChangeClasses);
        Assert.Contains(ChangeClass.MultiGpuOnly, Real.GetRecord(6).ChangeClasses);
    }

    [Fact]
    public void Record_facts_match_the_fact_sheet()
    {
        double[] official = [45, 31.4, 24.9, 22.3, 15.2, 13.1, 12.0, 10.8, 8.2, 7.8, 7.2, 5.03, 4.66, 4.41, 3.95, 3.80, 3.57, 3.4, 3.142, 2.992, 2.933];
        int[] steps = [24576, 9536, 7000, 6200, 5100, 5100, 5100, 4578, 3200, 3242, 3000, 1875, 1750, 1530, 1480, 1480, 1490, 1390, 1395, 1393, 1770];
        Assert.Equal(official, Real.Records.Select(r => r.OfficialTimeMinutes));
        Assert.Equal(steps, Real.Records.Select(r => r.Steps));
        Assert.Equal(2968348, Real.GetRecord(1).HarnessTimeMs);
        Assert.Equal(184262, Real.GetRecord(21).HarnessTimeMs);
        Assert.Equal(new DateOnly(2025, 1, 26), Real.GetRecord(21).Date);
        // Official times fall record by record.
        for (int i = 1; i < official.Length; i++) Assert.True(official[i] < official[i - 1]);
    }

    [Fact]
    public void Nineteen_tasks_without_6_to_7()
    {
        Assert.Equal(19, Real.Tasks.Count);
        Assert.Equal(Enumerable.Range(1, 20).Where(n => n != 6), Real.Tasks.Select(t => t.Number));
        Assert.All(Real.Tasks, t => Assert.Equal(t.Number + 1, t.Next.Number));
        var excluded = Assert.Single(Real.ExcludedTransitions);
        Assert.Equal((6, 7), (excluded.From, excluded.To));
        Assert.Contains("PyTorch", excluded.Reason);
        var e = Assert.Throws<ArgumentException>(() => Real.GetTask(6));
        Assert.Contains("PyTorch", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Real.GetTask(21));
    }

    /// <summary>A word or two each hint of a task must mention: what record N+1 actually changed.</summary>
    public static TheoryData<int, string[]> TaskKeywords => new()
    {
        { 1, ["rotary", "warmdown"] },
        { 2, ["Newton-Schulz", "Muon"] },
        { 3, ["sqrt(max", "768"] },
        { 4, ["QK-norm", "ReLU"] },
        { 5, ["all-reduce", "bf16"] },
        { 7, ["untie", "zero"] },
        { 8, ["tanh", "momentum"] },
        { 9, ["bf16", "fp32"] },
        { 10, ["skip", "encoder"] },
        { 11, ["document", "window"] },
        { 12, ["window", "grow"] },
        { 13, ["value embedding", "464M"] },
        { 14, ["mirror", "U-net"] },
        { 15, ["partial", "block"] },
        { 16, ["1024", "layer 7"] },
        { 17, ["softcap", "0.4"] },
        { 18, ["FP8", "e4m3"] },
        { 19, ["QKV", "0.12"] },
        { 20, ["393,216", "262,144"] },
    };

    [Theory]
    [MemberData(nameof(TaskKeywords))]
    public void Every_task_has_three_specific_hint_files(int taskNumber, string[] keywords)
    {
        var task = Real.GetTask(taskNumber);
        foreach (var level in HintLevels.Stored)
        {
            Assert.True(task.HasHint(level), $"missing {task.HintPath(level)}");
            var text = task.ReadHint(level);
            var file = task.HintPath(level);
            Assert.StartsWith("# ", text);
            Assert.True(text.Length > level switch { 1 => 500, 2 => 1200, _ => 2000 }, $"{file} is too short ({text.Length} chars)");
            Assert.Contains($"record {task.Next.Number}", text, StringComparison.OrdinalIgnoreCase);
            foreach (var word in keywords)
                Assert.True(text.Contains(word, StringComparison.OrdinalIgnoreCase), $"{file} does not mention '{word}'");
        }
        Assert.Contains("```", task.ReadHint(HintLevels.Pseudocode));
        var paper = task.ReadHint(HintLevels.Paper);
        Assert.Contains("## Abstract", paper);
        Assert.Contains("Implementation notes", paper);
        Assert.Contains("## References", paper);
    }

    [Fact]
    public void Hint_folders_exist_only_for_tasks()
    {
        var folders = Directory.GetDirectories(Real.HintsDirectory).Select(Path.GetFileName).Order().ToList();
        Assert.Equal(Real.Tasks.Select(t => $"{t.Number:D2}"), folders);
        foreach (var dir in Directory.GetDirectories(Real.HintsDirectory))
            Assert.Equal(HintLevels.Stored.Select(HintLevels.FileName).Order(), Directory.GetFiles(dir).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void Tracks_load_with_their_values()
    {
        Assert.Equal(["full", "mini", "tiny"], Real.Tracks.Select(t => t.Name));
        var full = Real.GetTrack("full");
        Assert.Null(full.Width);
        Assert.Equal((1.0, 1.0, 10485760L, 125, 3.28, "cuda", "fineweb", 120.0),
            (full.BatchScale, full.StepScale, full.ValTokens, full.ValEvery, full.TargetValLoss, full.Device, full.Data, full.TimeLimitMinutes));
        // The full track is the records' own configuration (facts/records.md §1.1: 10,485,760 val tokens, target 3.28).
        // Its limit follows the record: 8 GPUs' work on one with half again to spare, from the official times in
        // records.md (record 1: 45 min; record 11: 7.2 min); a program outside the catalog gets the flat 120.
        Assert.Equal(12.0, full.TimeLimitOfficialFactor);
        Assert.Equal(540, full.TimeLimitFor(Real.Records.Single(r => r.Number == 1).OfficialTimeMinutes), 6);
        Assert.Equal(86.4, full.TimeLimitFor(Real.Records.Single(r => r.Number == 11).OfficialTimeMinutes), 6);
        Assert.Equal(120, full.TimeLimitFor(null));
        var tiny = Real.GetTrack("tiny");
        Assert.Equal(("cpu", "default-corpus"), (tiny.Device, tiny.Data));
        // Tracks scale width, tokens and steps, never structure: a width every head size (64, 128) divides.
        Assert.Equal(0, tiny.Dim(768) % 128);
        Assert.True(tiny.Dim(768) < 768 && tiny.BatchScale < 1 && tiny.StepScale < 1);
        // The default corpus's val split holds 55,436 tokens (measured when it was designed): the tiny track's
        // val budget must fit in it, in whole sequences of the records' 1024 tokens.
        Assert.InRange(tiny.ValTokens, 1, 55_435);
        Assert.Equal(0, tiny.ValTokens % 1024);
        Assert.InRange(tiny.TargetValLoss, 1.0, 6.3); // below the corpus's unigram entropy (6.31 nats)
        var mini = Real.GetTrack("mini");
        Assert.Equal("cuda", mini.Device);
        Assert.Equal(0, mini.Dim(768) % 128);
        Assert.Contains("PROVISIONAL", mini.Description);
        Assert.Throws<ArgumentException>(() => Real.GetTrack("huge"));
    }

    [Fact]
    public void A_track_scales_sizes_and_keeps_at_least_one_of_each()
    {
        var t = new Track
        {
            Name = "t", Description = "", Device = "cpu", Data = "default-corpus", Width = 256, BatchScale = 1.0 / 256,
            StepScale = 1.0 / 128, ValTokens = 1024, TargetValLoss = 5, TimeLimitMinutes = 1,
        };
        Assert.Equal((256, 1, 2, 192, 2, 1, 0), (t.Dim(768), t.Sequences(256), t.Sequences(512), t.Steps(24576), t.Steps(256), t.Steps(10), t.Steps(0)));
        // Streams (records 12+) scale by tokens: 1/256 of 8 x 64K is one 2,048-token stream (48K: 1,536), whole 128-token
        // blocks, at least one; 1/8 keeps one whole 64K stream, and a full track all eight.
        Assert.Equal((1, 2048), t.Streams(8, 65536, 128));
        Assert.Equal((1, 1536), t.Streams(8, 49152, 128));
        Assert.Equal((1, 128), (t with { BatchScale = 1e-6 }).Streams(8, 65536, 128));
        Assert.Equal((1, 65536), (t with { BatchScale = 0.125 }).Streams(8, 65536, 128));
        Assert.Equal((8, 65536), (t with { BatchScale = 1 }).Streams(8, 65536, 128));
        var own = t with { Width = null };
        Assert.Equal(768, own.Dim(768));
        Assert.Equal((1.0, 1.0), (t.TimeLimitFor(45), t.TimeLimitFor(null))); // no factor: the flat limit for every record
    }

    [Theory]
    [InlineData("\"width\": 100,", "width")]
    [InlineData("\"width\": 0,", "width")]
    [InlineData("\"model\": {\"layers\": 2},", "model")]
    [InlineData("\"sequence_length\": 128,", "sequence_length")]
    [InlineData("\"time_limit_official_factor\": 0,", "time_limit_official_factor")]
    public void A_track_file_with_a_bad_or_retired_field_names_it(string field, string name)
    {
        using var dir = new Speedrun.Tests.Shared.TempDir();
        var path = dir.File("bad.json");
        File.WriteAllText(path, "{ \"name\": \"bad\", \"description\": \"\", \"device\": \"cpu\", \"data\": \"default-corpus\", " + field +
            " \"val_tokens\": 1024, \"target_val_loss\": 5, \"time_limit_minutes\": 1 }");
        var e = Assert.Throws<InvalidDataException>(() => Track.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(name, e.Message);
    }

    [Fact]
    public void Table_has_a_row_per_record()
    {
        var rows = Real.Table();
        Assert.Equal(21, rows.Count);
        Assert.Equal(TaskAvailability.Excluded, rows[5].Task);
        Assert.Equal("excluded", rows[5].TaskText);
        Assert.Equal(TaskAvailability.NoNextRecord, rows[20].Task);
        foreach (var row in rows)
        {
            var record = Real.GetRecord(row.Number);
            Assert.Equal(File.Exists(record.TrainPath), row.Runnable);
            Assert.Equal(row.Runnable ? "yes" : "no", row.RunnableText);
            if (row.Number is not (6 or 21))
                Assert.Equal(Real.GetTask(row.Number).IsOpen, row.TaskOpen);
        }
        Assert.Equal("algorithmic, architectural", rows[1].ClassesText);
    }

    [Fact]
    public void Level0_is_available_only_for_open_tasks()
    {
        foreach (var task in Real.Tasks)
        {
            Assert.Equal(task.IsOpen, task.HasHint(HintLevels.Diff));
            if (!task.IsOpen)
            {
                var e = Assert.Throws<InvalidOperationException>(task.Level0Diff);
                Assert.Contains("Train.cs", e.Message);
            }
        }
    }
}

/// <summary>Loader errors and root discovery, on throw-away repositories.</summary>
public sealed class CatalogLoaderTests
{
    [Fact]
    public void Fixture_loads_with_runnable_flags_and_open_tasks()
    {
        using var fx = new CatalogFixture();
        var catalog = BenchmarkCatalog.Load(fx.Root);
        Assert.Equal([true, true, false], catalog.Records.Select(r => r.IsRunnable));
        Assert.True(catalog.GetTask(1).IsOpen);
        Assert.False(catalog.GetTask(2).IsOpen);
        Assert.Equal([TaskAvailability.Open, TaskAvailability.NotRunnable, TaskAvailability.NoNextRecord],
            catalog.Table().Select(r => r.Task));
        Assert.Contains("03-gamma", Assert.Single(catalog.GetTask(2).MissingTrainFiles));
    }

    [Fact]
    public void Bad_change_class_names_the_file_and_field()
    {
        using var fx = new CatalogFixture();
        var json = CatalogFixture.RecordJson(3, "gamma", "Gamma", ["speedy"]);
        var file = fx.WriteRecordJson("03-gamma", json);
        var e = Assert.Throws<InvalidDataException>(() => BenchmarkCatalog.Load(fx.Root));
        Assert.Contains(file, e.Message);
        Assert.Contains("'change_classes'", e.Message);
        Assert.Contains("algorithmic", e.Message);
    }

    [Fact]
    public void Folder_must_match_number_and_slug()
    {
        using var fx = new CatalogFixture();
        var json = CatalogFixture.RecordJson(4, "delta", "Delta", ["systems"]);
        fx.WriteRecordJson("04-delta-wrong", json);
        var e = Assert.Throws<InvalidDataException>(() => BenchmarkCatalog.Load(fx.Root));
        Assert.Contains("04-delta-wrong", e.Message);
        Assert.Contains("'04-delta'", e.Message);
    }

    [Fact]
    public void Missing_field_names_the_file()
    {
        using var fx = new CatalogFixture();
        var json = CatalogFixture.RecordJson(4, "delta", "Delta", ["systems"]);
        json.Remove("steps");
        var file = fx.WriteRecordJson("04-delta", json);
        var e = Assert.Throws<InvalidDataException>(() => BenchmarkCatalog.Load(fx.Root));
        Assert.Contains(file, e.Message);
        Assert.Contains("steps", e.Message);
    }

    [Fact]
    public void Unknown_field_is_rejected()
    {
        using var fx = new CatalogFixture();
        var json = CatalogFixture.RecordJson(4, "delta", "Delta", ["systems"]);
        json["speed"] = "fast";
        var file = fx.WriteRecordJson("04-delta", json);
        var e = Assert.Throws<InvalidDataException>(() => BenchmarkCatalog.Load(fx.Root));
        Assert.Contains(file, e.Message);
        Assert.Contains("speed", e.Message);
    }

    [Fact]
    public void Gap_in_record_numbers_is_rejected()
    {
        using var fx = new CatalogFixture();
        fx.WriteRecord(5, "epsilon", "Epsilon", ["systems"], train: null);
        var e = Assert.Throws<InvalidDataException>(() => BenchmarkCatalog.Load(fx.Root));
        Assert.Contains("expected record 4", e.Message);
        Assert.Contains("05-epsilon", e.Message);
    }

    [Fact]
    public void Task_excluded_on_a_record_removes_the_task()
    {
        using var fx = new CatalogFixture();
        var json = CatalogFixture.RecordJson(3, "gamma", "Gamma", ["systems"]);
        json["task_excluded"] = "same code as record 2";
        fx.WriteRecordJson("03-gamma", json);
        var catalog = BenchmarkCatalog.Load(fx.Root);
        Assert.Equal([1], catalog.Tasks.Select(t => t.Number));
        Assert.Equal(new ExcludedTransition(2, 3, "same code as record 2"), Assert.Single(catalog.ExcludedTransitions));
        var e = Assert.Throws<ArgumentException>(() => catalog.GetTask(2));
        Assert.Contains("same code as record 2", e.Message);
    }

    [Fact]
    public void Track_name_must_match_file_name()
    {
        using var fx = new CatalogFixture();
        var path = Path.Combine(fx.Root, "tracks", "tiny.json");
        var node = JsonNode.Parse(File.ReadAllText(path))!;
        node["name"] = "small";
        File.WriteAllText(path, node.ToJsonString());
        var e = Assert.Throws<InvalidDataException>(() => BenchmarkCatalog.Load(fx.Root));
        Assert.Contains("'name'", e.Message);
        Assert.Contains("tiny", e.Message);
    }

    [Fact]
    public void FindRoot_walks_up_and_honours_SPEEDRUN_HOME()
    {
        using var fx = new CatalogFixture();
        var deep = Directory.CreateDirectory(Path.Combine(fx.Root, "records", "01-alpha", "sub", "dir")).FullName;
        Assert.Equal(Path.GetFullPath(fx.Root), BenchmarkCatalog.FindRoot(deep, home: null));
        Assert.Equal(Path.GetFullPath(fx.Root), BenchmarkCatalog.FindRoot("/", home: fx.Root));

        var e = Assert.Throws<DirectoryNotFoundException>(() => BenchmarkCatalog.FindRoot(deep, home: deep));
        Assert.Contains("SPEEDRUN_HOME", e.Message);
        var outside = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "speedrun-noroot-" + Guid.NewGuid().ToString("N"))).FullName;
        try
        {
            var e2 = Assert.Throws<DirectoryNotFoundException>(() => BenchmarkCatalog.FindRoot(outside, home: null));
            Assert.Contains("SPEEDRUN_HOME", e2.Message);
        }
        finally { Directory.Delete(outside); }
    }
}
