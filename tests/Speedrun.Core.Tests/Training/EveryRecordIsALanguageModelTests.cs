using System.Reflection;
using Speedrun.Benchmark.Catalog;
using Speedrun.Core.Autograd;
using Speedrun.Core.Training;
using Module = Speedrun.Core.Training.Modules.Module;
using Tensor = Speedrun.Core.Autograd.Tensor;

namespace Speedrun.Core.Tests.Training;

/// <summary>
/// What the harness's evaluation relies on, for every record's model at its tiny-track size: weights saved with
/// <see cref="Checkpoint"/> and loaded into the model its <c>Create</c> builds give the same logits, bit for bit;
/// and the logits before a position do not move when the tokens from it on change (the causality probe's rule).
/// </summary>
public class EveryRecordIsALanguageModelTests(ITestOutputHelper output)
{
    public static TheoryData<string> Records => EveryRecordTrainsOnTheCpuTests.Records;

    [Theory]
    [MemberData(nameof(Records))]
    public void SavedWeightsReloadIntoTheModelItsCreateBuildsAndItsLogitsAreCausal(string record)
    {
        var program = RecordProgram.Load(record);
        var root = BenchmarkCatalog.FindRoot(AppContext.BaseDirectory);
        var track = Track.Load(Path.Combine(root, "tracks", "tiny.json"));
        var gpt = program.Type("Gpt");
        Assert.Contains(gpt.GetInterfaces(), i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(ILanguageModel<>));
        var create = gpt.GetMethod("Create", BindingFlags.Public | BindingFlags.Static, [typeof(Track), typeof(Device)])!;
        var logitsOf = gpt.GetMethod("Logits", [typeof(Tensor)])!;
        using var device = Device.Create(Kernels.Runtime.DeviceKind.Cpu);

        // "Trained" weights: every parameter random (records 8 on start their head at zero, which would hide a load
        // that did nothing).
        using var trained = (Module)create.Invoke(null, [track, device])!;
        var rng = new Random(7);
        foreach (var (_, p) in trained.NamedParameters())
            p.F32.CopyFromCPU(device.Stream, Enumerable.Range(0, (int)p.Length).Select(_ => (float)(rng.NextDouble() * 0.1 - 0.05)).ToArray());
        var dir = Directory.CreateTempSubdirectory("speedrun-ckpt-");
        try
        {
            var path = Path.Combine(dir.FullName, Checkpoint.FileName);
            Checkpoint.Save(path, trained, new Dictionary<string, string> { [Checkpoint.ModelTypeKey] = gpt.FullName! });
            using var fresh = (Module)create.Invoke(null, [track, device])!;
            int context = (int)gpt.GetProperty("ContextLength")!.GetValue(fresh)!;
            Assert.True(context >= 1 && track.ValTokens % context == 0,
                $"ContextLength {context} must divide the track's {track.ValTokens} validation tokens");
            // One sequence of at most 1024 tokens: records 12+ evaluate 16K-token streams on tiny, whose whole logits
            // would take 3.3 GB; any length exercises the same weights and the same causality rule.
            int t = Math.Min(context, 1024);
            var tokens = Enumerable.Range(0, t).Select(_ => rng.Next(50257)).ToArray();
            var piecesOf = typeof(ILanguageModel<>).MakeGenericType(gpt).GetMethod("LogitsInPieces")!;
            float[] Logits(Module model, int[] x)
            {
                using var scope = new TensorScope();
                using var noGrad = GradMode.NoGrad();
                return ((Tensor)logitsOf.Invoke(model, [Tensor.FromArray(device, x, 1, t)])!).ToArray();
            }
            // What the harness reads: the pieces, in order (one piece, Logits itself, unless the model overrides it).
            float[] Pieces(Module model, int[] x)
            {
                using var scope = new TensorScope();
                using var noGrad = GradMode.NoGrad();
                var pieces = (IEnumerable<Tensor>)piecesOf.Invoke(model, [Tensor.FromArray(device, x, 1, t)])!;
                return pieces.SelectMany(piece => piece.ToArray()).ToArray();
            }

            var expected = Logits(trained, tokens);
            Assert.False(expected.SequenceEqual(Logits(fresh, tokens)), "the fresh model already gives the trained logits");
            var header = Checkpoint.Load(path, fresh);
            Assert.Equal(gpt.FullName, header.Metadata[Checkpoint.ModelTypeKey]);
            Assert.Equal(expected, Logits(fresh, tokens));
            Assert.Equal(expected, Pieces(fresh, tokens));
            int c = expected.Length / t;
            Assert.True(c >= 50257, $"{c} logits per position");

            // Causality: change every token from position `cut` on; the logits before it stay exactly the same.
            const int cut = 700;
            var altered = tokens.Select((x, i) => i < cut ? x : (x + 1 + i) % 50257).ToArray();
            var moved = Pieces(fresh, altered);
            Assert.Equal(expected.AsSpan(0, cut * c).ToArray(), moved.AsSpan(0, cut * c).ToArray());
            Assert.NotEqual(expected.AsSpan(cut * c, c).ToArray(), moved.AsSpan(cut * c, c).ToArray());
            output.WriteLine($"{record}: {fresh.ParameterCount():N0} parameters reloaded; {c} logits per position; prefix of {cut} unchanged");
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
