using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Speedrun.Core.Training;
using Speedrun.Core.Training.Modules;
using Tensor = Speedrun.Core.Autograd.Tensor;

namespace Speedrun.Core.Tests.Training;

/// <summary>
/// The model file against the safetensors format as its specification states it (an 8-byte little-endian header
/// size, a JSON header of dtype, shape and data_offsets per tensor plus string metadata, then the raw
/// little-endian data), read here byte by byte rather than with <see cref="Checkpoint"/>; and every way a file
/// can fail to fit the model, each named.
/// </summary>
public sealed class CheckpointTests : IDisposable
{
    readonly Device _device = Device.Create(Kernels.Runtime.DeviceKind.Cpu);
    readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("speedrun-ckpt-tests-");

    public void Dispose()
    {
        _device.Dispose();
        _dir.Delete(recursive: true);
    }

    sealed class Tiny : Module
    {
        public Tiny(Device device, float[] w, float[] b, int rows = 2) : base(device)
        {
            W = Parameter("w", w, rows, w.Length / rows);
            Inner = Child("inner", new Bias(device, b));
        }

        public Tensor W { get; }
        public Bias Inner { get; }
    }

    sealed class Bias : Module
    {
        public Bias(Device device, float[] b) : base(device) => B = Parameter("b", b, b.Length);
        public Tensor B { get; }
    }

    string PathOf(string name) => Path.Combine(_dir.FullName, name);

    [Fact]
    public void TheFileIsSafetensorsAsSpecified()
    {
        float[] w = [1.5f, -2f, 3.25f, 0f, 1e-3f, -7f];
        float[] b = [42f];
        using var model = new Tiny(_device, w, b);
        var path = PathOf("model.safetensors");
        Checkpoint.Save(path, model, new Dictionary<string, string> { ["speedrun.model_type"] = "Tiny" });

        var bytes = File.ReadAllBytes(path);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0UL, (8 + n) % 8); // the data starts 8-byte aligned
        using var header = JsonDocument.Parse(Encoding.UTF8.GetString(bytes, 8, (int)n).TrimEnd(' '));
        var root = header.RootElement;
        Assert.Equal("Tiny", root.GetProperty("__metadata__").GetProperty("speedrun.model_type").GetString());
        var wEntry = root.GetProperty("w");
        Assert.Equal("F32", wEntry.GetProperty("dtype").GetString());
        Assert.Equal([2, 3], wEntry.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal([0L, 24L], wEntry.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()));
        var bEntry = root.GetProperty("inner.b");
        Assert.Equal([1], bEntry.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal([24L, 28L], bEntry.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()));
        int data = 8 + (int)n;
        Assert.Equal(data + 28, bytes.Length);
        var values = Enumerable.Range(0, 7).Select(i => BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(data + 4 * i))).ToArray();
        Assert.Equal(w.Concat(b), values);
    }

    [Fact]
    public void LoadingPutsEachTensorIntoTheParameterOfItsName()
    {
        using var saved = new Tiny(_device, [1, 2, 3, 4], [5, 6]);
        var path = PathOf("a.safetensors");
        Checkpoint.Save(path, saved, new Dictionary<string, string>());
        using var fresh = new Tiny(_device, [0, 0, 0, 0], [0, 0]);
        Checkpoint.Load(path, fresh);
        Assert.Equal([1f, 2, 3, 4], fresh.W.ToArray());
        Assert.Equal([5f, 6], fresh.Inner.B.ToArray());
    }

    [Fact]
    public void AFileThatDoesNotFitTheModelSaysWhy()
    {
        using var saved = new Tiny(_device, [1, 2, 3, 4], [5, 6]);
        var path = PathOf("b.safetensors");
        Checkpoint.Save(path, saved, new Dictionary<string, string>());

        using var otherShape = new Tiny(_device, [0, 0, 0, 0], [0, 0], rows: 4);
        var e = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(path, otherShape));
        Assert.Contains("'w' has shape [2, 2] in the file but [4, 1] in the model", e.Message);

        using var fewer = new Bias(_device, [0, 0]);
        e = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(path, fewer));
        Assert.Contains("missing b", e.Message);
        Assert.Contains("not in the model: w, inner.b", e.Message);
    }

    [Theory]
    [InlineData(4, "shorter than its 8-byte header length")]
    [InlineData(20, "header length")]
    [InlineData(-1, "header is not a JSON object")]
    [InlineData(-2, "which do not fit")]
    public void ABrokenFileIsNamedWithItsProblem(int cut, string expected)
    {
        using var saved = new Tiny(_device, [1, 2, 3, 4], [5, 6]);
        var path = PathOf("c.safetensors");
        Checkpoint.Save(path, saved, new Dictionary<string, string>());
        var bytes = File.ReadAllBytes(path);
        if (cut > 0) bytes = bytes[..cut];                                  // truncated
        else if (cut == -1) bytes[8] = (byte)'#';                          // the header is not JSON
        else bytes = bytes[..^4];                                           // the data is short by one float
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<InvalidDataException>(() => Checkpoint.ReadHeader(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
    }
}
