using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ILGPU.Runtime;
using Speedrun.Core.Training.Modules;

namespace Speedrun.Core.Training;

/// <summary>
/// A model's weights on disk, in the safetensors layout (so Python's <c>safetensors</c> reads them too): an 8-byte
/// little-endian header length N, N bytes of JSON mapping each parameter's dotted name to
/// <c>{"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}</c> (byte offsets into the data that follows)
/// plus a <c>"__metadata__"</c> map of strings, then the raw little-endian float32 data.
/// A training run ends by writing one (<see cref="RunContext.SaveModel{T}"/>); the harness's evaluation process
/// reads it into a freshly built model.
/// </summary>
public static class Checkpoint
{
    /// <summary>The file a run saves its model to, in its run folder.</summary>
    public const string FileName = "model.safetensors";

    /// <summary>Metadata key naming the program's model type, which the evaluation process builds.</summary>
    public const string ModelTypeKey = "speedrun.model_type";

    const long MaxHeaderBytes = 100L << 20;

    /// <summary>One tensor in the file: its name, shape and where its bytes lie in the data section.</summary>
    public sealed record Entry(string Name, int[] Shape, long Begin, long End);

    /// <summary>The tensors a file holds, its metadata, and where its data section starts.</summary>
    public sealed record Header(IReadOnlyList<Entry> Tensors, IReadOnlyDictionary<string, string> Metadata, long DataStart, long FileLength);

    /// <summary>Writes every parameter of <paramref name="module"/> (atomically: a temp file, then a rename).</summary>
    public static void Save(string path, Module module, IReadOnlyDictionary<string, string> metadata)
    {
        var parameters = module.NamedParameters();
        var json = new JsonObject { ["__metadata__"] = new JsonObject(metadata.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))) };
        long offset = 0;
        foreach (var (name, p) in parameters)
        {
            long bytes = p.Length * sizeof(float);
            json[name] = new JsonObject
            {
                ["dtype"] = "F32",
                ["shape"] = new JsonArray(p.Shape.Select(d => (JsonNode?)d).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + bytes),
            };
            offset += bytes;
        }
        var header = Encoding.UTF8.GetBytes(json.ToJsonString());
        int padded = (header.Length + 7) / 8 * 8; // the format pads the header with spaces to 8-byte alignment
        var tmp = path + ".tmp";
        using (var file = new FileStream(tmp, FileMode.Create, FileAccess.Write))
        {
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)padded);
            file.Write(length);
            file.Write(header);
            for (int i = header.Length; i < padded; i++) file.WriteByte((byte)' ');
            foreach (var (_, p) in parameters)
            {
                var values = p.ToArray();
                if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("safetensors is little-endian");
                file.Write(MemoryMarshal.AsBytes(values.AsSpan()));
            }
        }
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Reads and checks the header; an unusable file throws InvalidDataException naming it and the problem.</summary>
    public static Header ReadHeader(string path)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read);
        return ReadHeader(file, path);
    }

    static Header ReadHeader(FileStream file, string path)
    {
        InvalidDataException Bad(string why) => new($"{path}: not a usable safetensors model file: {why}");
        Span<byte> length = stackalloc byte[8];
        if (file.Read(length) != 8) throw Bad("shorter than its 8-byte header length");
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(length);
        if (n == 0 || n > MaxHeaderBytes || (long)n > file.Length - 8) throw Bad($"header length {n} does not fit the file ({file.Length} bytes)");
        var bytes = new byte[n];
        file.ReadExactly(bytes);
        JsonObject root;
        try { root = JsonNode.Parse(bytes)?.AsObject() ?? throw Bad("empty header"); }
        catch (Exception e) when (e is JsonException or InvalidOperationException) { throw Bad($"header is not a JSON object ({e.Message})"); }

        var metadata = new Dictionary<string, string>();
        var tensors = new List<Entry>();
        long dataStart = 8 + (long)n, dataLength = file.Length - dataStart;
        foreach (var (name, node) in root)
        {
            try
            {
                if (name == "__metadata__")
                {
                    foreach (var (k, v) in node!.AsObject()) metadata[k] = v!.GetValue<string>();
                    continue;
                }
                var o = node!.AsObject();
                if (o["dtype"]!.GetValue<string>() != "F32") throw Bad($"tensor '{name}' has dtype {o["dtype"]}; only F32 is written");
                var shape = o["shape"]!.AsArray().Select(d => d!.GetValue<int>()).ToArray();
                var offsets = o["data_offsets"]!.AsArray().Select(d => d!.GetValue<long>()).ToArray();
                long elements = shape.Aggregate(1L, (a, d) => d < 0 ? -1 : a * d);
                if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] > dataLength || offsets[1] - offsets[0] != elements * sizeof(float))
                    throw Bad($"tensor '{name}' of shape [{string.Join(", ", shape)}] has data_offsets [{string.Join(", ", offsets)}], " +
                              $"which do not fit its size or the {dataLength}-byte data section");
                tensors.Add(new Entry(name, shape, offsets[0], offsets[1]));
            }
            catch (Exception e) when (e is NullReferenceException or InvalidOperationException or FormatException)
            {
                throw Bad($"entry '{name}' is malformed ({e.Message})");
            }
        }
        return new Header(tensors, metadata, dataStart, file.Length);
    }

    /// <summary>
    /// Loads the file's tensors into <paramref name="module"/>'s parameters, matched by name: every parameter must be
    /// in the file with the same shape, and the file may hold nothing else.
    /// </summary>
    public static Header Load(string path, Module module)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read);
        var header = ReadHeader(file, path);
        var byName = header.Tensors.ToDictionary(t => t.Name);
        var parameters = module.NamedParameters();
        var missing = parameters.Where(p => !byName.ContainsKey(p.Name)).Select(p => p.Name).ToList();
        var extra = byName.Keys.Except(parameters.Select(p => p.Name)).ToList();
        if (missing.Count > 0 || extra.Count > 0)
            throw new InvalidDataException(
                $"{path} does not fit the model {module.GetType().Name}: " +
                (missing.Count > 0 ? $"missing {string.Join(", ", missing.Take(5))}{(missing.Count > 5 ? ", ..." : "")}; " : "") +
                (extra.Count > 0 ? $"not in the model: {string.Join(", ", extra.Take(5))}{(extra.Count > 5 ? ", ..." : "")}; " : "") +
                "the model the evaluation builds (its Create method) must have the parameters the training saved.");
        foreach (var (name, p) in parameters)
        {
            var entry = byName[name];
            if (!entry.Shape.SequenceEqual(p.Shape))
                throw new InvalidDataException($"{path}: '{name}' has shape [{string.Join(", ", entry.Shape)}] in the file but " +
                                               $"[{string.Join(", ", p.Shape)}] in the model the evaluation built.");
            var values = new float[p.Length];
            file.Position = header.DataStart + entry.Begin;
            file.ReadExactly(MemoryMarshal.AsBytes(values.AsSpan()));
            p.F32.CopyFromCPU(p.Device.Stream, values);
        }
        module.Device.Synchronize();
        return header;
    }
}
