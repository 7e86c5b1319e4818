using System.Reflection;
using Speedrun.Benchmark.Catalog;
using Speedrun.Benchmark.Runs;
using Speedrun.Core.Autograd;
using Speedrun.Core.Training;
using Module = Speedrun.Core.Training.Modules.Module;
using Tensor = Speedrun.Core.Autograd.Tensor;

namespace Speedrun.Core.Tests.Training;

/// <summary>
/// What <see cref="EveryRecordIsALanguageModelTests"/> checks, for record 12, whose context is not 1024 tokens: its
/// ContextLength is the 64K stream cut to the track's validation tokens (16,384 on tiny), and its logits come in
/// pieces (LogitsInPieces), which together are its Logits; saved weights reload into the model its Create builds,
/// and the logits before a position do not move when the tokens from it on change. Run on a 1,536-token stream (two
/// pieces of 1,024 and 512 positions), its logits 0.3 GB, rather than the 16,384 of the evaluation (3.3 GB).
/// </summary>
public class Record12LanguageModelTests(ITestOutputHelper output)
{
    const string Record = "12-flex-attention";

    static Track LoadTrack(string name) =>
        Track.Load(Path.Combine(BenchmarkCatalog.FindRoot(AppContext.BaseDirectory), "tracks", $"{name}.json"));

    [Theory]
    [InlineData("tiny", 16384, 2048)]
    [InlineData("mini", 65536, 65536)]
    [InlineData("full", 65536, 65536)]
    public void TheContextIsTheStreamCutToTheValidationTokens(string trackName, int expected, int trainingStream)
    {
        var program = RecordProgram.Load(Record);
        var track = LoadTrack(trackName);
        var hp = program.Type("Hyperparameters").GetMethod("ForTrack")!.Invoke(null, [track])!;
        int context = LoadedProgram.Get<int>(hp, "ValSequenceLength");
        Assert.Equal(expected, context);
        Assert.Equal(0, track.ValTokens % context);
        // The training stream is the record's 64K unless the track's tokens per step fill less than one (tiny: 1/256 of
        // 8 x 64K, one stream of 2,048 tokens, see Track.Streams).
        Assert.Equal(trainingStream, LoadedProgram.Get<int>(hp, "SequenceLength"));
        Assert.Equal(trainingStream == 65536 ? track.Sequences(8) : 1, LoadedProgram.Get<int>(hp, "SequencesPerStep"));
    }

    [Fact]
    public void SavedWeightsReloadAndTheLogitsInPiecesAreItsLogitsAndCausal()
    {
        var program = RecordProgram.Load(Record);
        var track = LoadTrack("tiny");
        var gpt = program.Type("Gpt");
        var create = gpt.GetMethod("Create", BindingFlags.Public | BindingFlags.Static, [typeof(Track), typeof(Device)])!;
        using var device = Device.Create(Kernels.Runtime.DeviceKind.Cpu);

        using var trained = (Module)create.Invoke(null, [track, device])!;
        Assert.Equal(16384, (int)gpt.GetProperty("ContextLength")!.GetValue(trained)!);
        var rng = new Random(7);
        foreach (var (_, p) in trained.NamedParameters())
            p.F32.CopyFromCPU(device.Stream, Enumerable.Range(0, (int)p.Length).Select(_ => (float)(rng.NextDouble() * 0.1 - 0.05)).ToArray());
        const int t = 1536, cut = 700;
        // Documents of 50-400 tokens, so that the mask's document term is at work on both sides of the cut.
        var tokens = new int[t];
        for (int i = 0, next = 37; i < t; i++)
        {
            if (i == next) (tokens[i], next) = (50256, next + rng.Next(50, 400));
            else tokens[i] = rng.Next(50256);
        }

        float[] InPieces(Module model, int[] x, List<int>? sizes = null)
        {
            using var scope = new TensorScope();
            using var noGrad = GradMode.NoGrad();
            var pieces = (IEnumerable<Tensor>)gpt.GetMethod("LogitsInPieces")!.Invoke(model, [Tensor.FromArray(device, x, 1, t)])!;
            var all = new List<float>();
            foreach (var piece in pieces)
            {
                sizes?.Add(piece.Dim(0));
                all.AddRange(piece.ToArray());
            }
            return all.ToArray();
        }

        var sizes = new List<int>();
        var expected = InPieces(trained, tokens, sizes);
        Assert.Equal([1024, 512], sizes);
        using (var scope = new TensorScope())
        using (GradMode.NoGrad())
        {
            var whole = ((Tensor)gpt.GetMethod("Logits")!.Invoke(trained, [Tensor.FromArray(device, tokens, 1, t)])!).ToArray();
            Assert.Equal(whole, expected);
        }

        var dir = Directory.CreateTempSubdirectory("speedrun-ckpt-");
        try
        {
            var path = Path.Combine(dir.FullName, Checkpoint.FileName);
            Checkpoint.Save(path, trained, new Dictionary<string, string> { [Checkpoint.ModelTypeKey] = gpt.FullName! });
            using var fresh = (Module)create.Invoke(null, [track, device])!;
            Assert.False(expected.SequenceEqual(InPieces(fresh, tokens)), "the fresh model already gives the trained logits");
            Checkpoint.Load(path, fresh);
            Assert.Equal(expected, InPieces(fresh, tokens));
            int c = expected.Length / t;
            Assert.True(c >= 50257, $"{c} logits per position");

            var altered = tokens.Select((x, i) => i < cut ? x : (x + 1 + i) % 50257).ToArray();
            var moved = InPieces(fresh, altered);
            Assert.Equal(expected.AsSpan(0, cut * c).ToArray(), moved.AsSpan(0, cut * c).ToArray());
            Assert.NotEqual(expected.AsSpan(cut * c, c).ToArray(), moved.AsSpan(cut * c, c).ToArray());
            output.WriteLine($"{fresh.ParameterCount():N0} parameters reloaded; pieces {string.Join(" + ", sizes)}; {c} logits per position; prefix of {cut} unchanged");
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
