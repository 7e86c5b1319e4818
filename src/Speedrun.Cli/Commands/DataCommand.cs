using System.CommandLine;
using Speedrun.Benchmark.Data;
using Speedrun.Benchmark.Runs;

namespace Speedrun.Cli.Commands;

/// <summary>`speedrun data build|fineweb|corpus`: make or fetch speedrun .bin shards.</summary>
internal static class DataCommand
{
    public static Command Create()
    {
        var command = new Command("data", "Build or download token shards (speedrun .bin format).")
        {
            Build(), FineWeb(), Corpus(),
        };
        return command;
    }

    static Command Build()
    {
        var input = new Argument<string>("folder") { Description = "A folder of .txt/.md files; each file is one document" };
        var output = new Option<string>("--out") { Description = "Output folder for train_*.bin and val_*.bin", Required = true };
        var val = new Option<double>("--val-fraction") { Description = "Share of documents for validation", DefaultValueFactory = _ => 1.0 / 64 };
        var shard = new Option<int>("--shard-tokens") { Description = "Tokens per shard", DefaultValueFactory = _ => 100_000_000 };
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace shards already in --out" };
        var cmd = new Command("build", "Tokenize a folder of text into train/val shards.") { input, output, val, shard, overwrite };
        cmd.SetAction(parse =>
        {
            var progress = new Progress<DataBuildProgress>(p =>
                Console.Error.Write($"\r  {p.Stage}: {p.Done}/{p.Total} files, {p.Tokens:N0} tokens   "));
            var info = DataBuilder.BuildFromTextFolder(parse.GetValue(input)!, parse.GetValue(output)!, parse.GetValue(val),
                parse.GetValue(shard), progress, parse.GetValue(overwrite));
            Console.Error.WriteLine();
            Console.WriteLine($"wrote {info.TrainTokens:N0} train and {info.ValTokens:N0} val tokens to {info.Directory}");
            Console.WriteLine($"  train: {info.TrainPattern}\n  val:   {info.ValPattern}");
            return 0;
        });
        return cmd;
    }

    static Command FineWeb()
    {
        var shards = new Option<int>("--shards") { Description = "Train shards to fetch (100M tokens each, up to 103)", DefaultValueFactory = _ => 8 };
        var output = new Option<string?>("--out") { Description = $"Folder (default: ${TrackData.FineWebDirVariable} or the cache)" };
        var cmd = new Command("fineweb", "Download FineWeb10B GPT-2 shards (resumes partial files, checks sizes).") { shards, output };
        cmd.SetAction(async (parse, cancel) =>
        {
            var dir = parse.GetValue(output) ?? TrackData.FineWebDirectory();
            using var downloader = new FineWebDownloader();
            var progress = new Progress<DownloadProgress>(p =>
                Console.Error.Write($"\r  [{p.FileIndex + 1}/{p.FileCount}] {p.FileName}: {p.BytesDone / 1e6:F0}" +
                                    $"{(p.BytesTotal is { } t ? $"/{t / 1e6:F0}" : "")} MB {p.Status}   "));
            try
            {
                var files = await downloader.DownloadAsync(dir, parse.GetValue(shards), progress, cancel);
                Console.Error.WriteLine();
                Console.WriteLine($"{files.Count} files complete in {dir}");
                return 0;
            }
            catch (FineWebDownloadException e)
            {
                Console.Error.WriteLine();
                Console.Error.WriteLine($"error: {e.Message}");
                return 1;
            }
        });
        return cmd;
    }

    static Command Corpus()
    {
        var cmd = new Command("corpus", "Build (once) and show the default offline corpus from the .NET SDK's XML docs.");
        cmd.SetAction(_ =>
        {
            var info = DefaultCorpus.Ensure(log: Console.Error);
            Console.WriteLine($"{(info.Built ? "built" : "cached")}: {info.Directory}");
            Console.WriteLine($"  train {info.TrainTokens:N0} tokens: {info.TrainPattern}\n  val   {info.ValTokens:N0} tokens: {info.ValPattern}");
            return 0;
        });
        return cmd;
    }
}
