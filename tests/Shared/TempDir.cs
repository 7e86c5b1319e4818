namespace Speedrun.Tests.Shared;

/// <summary>A fresh folder under the system temp folder, deleted on dispose.</summary>
sealed class TempDir : IDisposable
{
    public TempDir() => Directory.CreateDirectory(Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "speedrun-test-" + Guid.NewGuid().ToString("N")));

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}

/// <summary>Writes raw shard files by hand, so the reader's tests do not depend on the writer.</summary>
static class RawShard
{
    public static void Write(string path, int magic, int version, int headerCount, IEnumerable<ushort> body)
    {
        using var w = new BinaryWriter(System.IO.File.Create(path));
        var header = new int[256];
        header[0] = magic;
        header[1] = version;
        header[2] = headerCount;
        foreach (var h in header) w.Write(h); // BinaryWriter is little-endian
        foreach (var t in body) w.Write(t);
    }

    public static void Write(string path, params ushort[] tokens) => Write(path, 20240520, 1, tokens.Length, tokens);

    public static ushort[] Range(int start, int count) => Enumerable.Range(start, count).Select(i => (ushort)i).ToArray();
}
