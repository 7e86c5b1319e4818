using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using Speedrun.Benchmark.Data;
using Speedrun.Tests.Shared;

namespace Speedrun.Benchmark.Tests.Data;

public class FineWebDownloaderTests
{
    const string Val = "fineweb_val_000000.bin";

    // A valid shard of 5,000 tokens: 1024 + 10,000 = 11,024 bytes.
    static byte[] ShardBytes(TempDir dir, int tokens = 5000, string name = "source.bin")
    {
        var path = dir.File(name);
        RawShard.Write(path, RawShard.Range(1, tokens));
        var bytes = File.ReadAllBytes(path);
        File.Delete(path);
        return bytes;
    }

    static FineWebDownloader Downloader(FakeServer server) =>
        new(new HttpClient(server), "https://example.test/data/") { RetryDelay = TimeSpan.Zero };

    [Fact]
    public void FileNamesFollowTheDatasetLayout()
    {
        Assert.Equal(["fineweb_val_000000.bin", "fineweb_train_000001.bin", "fineweb_train_000002.bin"], FineWebDownloader.FileNames(2));
        Assert.Throws<ArgumentOutOfRangeException>(() => FineWebDownloader.FileNames(104));
    }

    [Fact]
    public async Task DownloadsValAndTrainShards()
    {
        using var dir = new TempDir();
        var server = new FakeServer();
        server.Files[Val] = ShardBytes(dir, 3000);
        server.Files["fineweb_train_000001.bin"] = ShardBytes(dir, 4000);
        var paths = await Downloader(server).DownloadAsync(dir.File("fw"), trainShards: 1);

        Assert.Equal([dir.File("fw/" + Val), dir.File("fw/fineweb_train_000001.bin")], paths);
        Assert.Equal(server.Files[Val], File.ReadAllBytes(paths[0]));
        Assert.Equal(server.Files["fineweb_train_000001.bin"], File.ReadAllBytes(paths[1]));
        Assert.Empty(Directory.GetFiles(dir.File("fw"), "*.part"));
        Assert.Equal(["https://example.test/data/fineweb_val_000000.bin", "https://example.test/data/fineweb_train_000001.bin"],
            server.Requests.Select(r => r.Url));
    }

    [Fact]
    public async Task ResumesAPartialFileWithARangeRequest()
    {
        using var dir = new TempDir();
        var server = new FakeServer();
        var full = server.Files[Val] = ShardBytes(dir);
        File.WriteAllBytes(dir.File(Val + ".part"), full[..3000]);

        var path = await Downloader(server).DownloadFileAsync(Val, dir.Path);

        Assert.Equal(full, File.ReadAllBytes(path));
        var request = Assert.Single(server.Requests);
        Assert.Equal(3000L, request.RangeFrom);
        Assert.Equal(full.Length - 3000, request.BytesSent);
        Assert.False(File.Exists(dir.File(Val + ".part")));
    }

    [Fact]
    public async Task ResumesAfterTheConnectionDrops()
    {
        using var dir = new TempDir();
        var server = new FakeServer { FailAfterBytes = 4000, FailuresLeft = 2 };
        var full = server.Files[Val] = ShardBytes(dir);
        var progress = new List<DownloadProgress>();

        await Downloader(server).DownloadFileAsync(Val, dir.Path, new SyncProgress(progress.Add));

        Assert.Equal(full, File.ReadAllBytes(dir.File(Val)));
        Assert.Equal([null, 4000L, 8000L], server.Requests.Select(r => r.RangeFrom));
        Assert.Contains(progress, p => p.Status == "resuming" && p.BytesDone == 4000);
        Assert.Equal(new DownloadProgress(Val, 0, 1, full.Length, full.Length, "done"), progress[^1]);
    }

    [Fact]
    public async Task RestartsWhenTheServerIgnoresTheRange()
    {
        using var dir = new TempDir();
        var server = new FakeServer { IgnoreRange = true };
        var full = server.Files[Val] = ShardBytes(dir);
        File.WriteAllBytes(dir.File(Val + ".part"), full[..3000]);
        await Downloader(server).DownloadFileAsync(Val, dir.Path);
        Assert.Equal(full, File.ReadAllBytes(dir.File(Val)));
    }

    [Fact]
    public async Task SkipsFilesThatAreAlreadyComplete()
    {
        using var dir = new TempDir();
        var server = new FakeServer();
        var full = ShardBytes(dir);
        File.WriteAllBytes(dir.File(Val), full);
        var progress = new List<DownloadProgress>();
        await Downloader(server).DownloadFileAsync(Val, dir.Path, new SyncProgress(progress.Add));
        Assert.Empty(server.Requests);
        Assert.Equal("skipped", Assert.Single(progress).Status);
    }

    [Fact]
    public async Task AShortFileUnderTheFinalNameIsResumed()
    {
        using var dir = new TempDir();
        var server = new FakeServer();
        var full = server.Files[Val] = ShardBytes(dir);
        File.WriteAllBytes(dir.File(Val), full[..5000]);
        await Downloader(server).DownloadFileAsync(Val, dir.Path);
        Assert.Equal(full, File.ReadAllBytes(dir.File(Val)));
        Assert.Equal(5000L, Assert.Single(server.Requests).RangeFrom);
    }

    [Fact]
    public async Task ABodyShorterThanItsHeaderIsNeverAccepted()
    {
        using var dir = new TempDir();
        var server = new FakeServer { OmitLength = true }; // so only the header can tell the size
        server.Files[Val] = ShardBytes(dir)[..6000]; // header says 11,024 bytes; the server has 6,000
        var e = await Assert.ThrowsAsync<FineWebDownloadException>(() => Downloader(server).DownloadFileAsync(Val, dir.Path));
        Assert.Contains(Val, e.Message);
        Assert.False(File.Exists(dir.File(Val)));
        Assert.Contains("kept ending the transfer early", e.Message);
        Assert.Equal(4, server.Requests.Count); // MaxAttempts
    }

    [Fact]
    public async Task AServerSizeThatDisagreesWithTheHeaderIsRefused()
    {
        using var dir = new TempDir();
        var server = new FakeServer();
        server.Files[Val] = [.. ShardBytes(dir), 1, 2, 3, 4];
        var e = await Assert.ThrowsAsync<FineWebDownloadException>(() => Downloader(server).DownloadFileAsync(Val, dir.Path));
        Assert.Contains("announces 11028 bytes but the shard header implies 11024", e.Message);
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public async Task MoreBytesThanTheHeaderAllowsAreRefused()
    {
        using var dir = new TempDir();
        var server = new FakeServer { OmitLength = true };
        server.Files[Val] = [.. ShardBytes(dir), 1, 2, 3, 4];
        var e = await Assert.ThrowsAsync<FineWebDownloadException>(() => Downloader(server).DownloadFileAsync(Val, dir.Path));
        Assert.Contains("more than the 11024 bytes", e.Message);
        Assert.False(File.Exists(dir.File(Val + ".part")));
    }

    [Fact]
    public async Task AnErrorPageIsNotTakenForAShard()
    {
        using var dir = new TempDir();
        var server = new FakeServer();
        server.Files[Val] = System.Text.Encoding.UTF8.GetBytes("<html>" + new string('x', 2000) + "</html>");
        var e = await Assert.ThrowsAsync<FineWebDownloadException>(() => Downloader(server).DownloadFileAsync(Val, dir.Path));
        Assert.Contains("not a speedrun shard", e.Message);
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public async Task MissingFileSaysSo()
    {
        using var dir = new TempDir();
        var e = await Assert.ThrowsAsync<FineWebDownloadException>(() => Downloader(new FakeServer()).DownloadFileAsync(Val, dir.Path));
        Assert.Contains("HTTP 404", e.Message);
    }

    [Fact]
    public async Task UnreachableNetworkGivesAClearError()
    {
        using var dir = new TempDir();
        var server = new FakeServer { Unreachable = true };
        using var downloader = new FineWebDownloader(new HttpClient(server)) { RetryDelay = TimeSpan.Zero, MaxAttempts = 2 };
        var e = await Assert.ThrowsAsync<FineWebDownloadException>(() => downloader.DownloadAsync(dir.File("fw"), 0));
        Assert.Contains("huggingface.co is unreachable", e.Message);
        Assert.Contains("HostNotFound", e.Message);
        Assert.Contains("HTTPS_PROXY", e.Message);
        Assert.Contains(dir.File("fw"), e.Message);
        Assert.Equal(2, server.Requests.Count);
    }

    sealed class SyncProgress(Action<DownloadProgress> report) : IProgress<DownloadProgress>
    {
        public void Report(DownloadProgress value) => report(value);
    }

    sealed record Request(string Url, long? RangeFrom)
    {
        public long BytesSent { get; set; }
    }

    /// <summary>An in-memory file server that honours Range requests and can fail on demand.</summary>
    sealed class FakeServer : HttpMessageHandler
    {
        public Dictionary<string, byte[]> Files { get; } = new();
        public List<Request> Requests { get; } = new();
        public bool IgnoreRange { get; init; }
        public bool OmitLength { get; init; }
        public bool Unreachable { get; init; }
        public int FailAfterBytes { get; init; }
        public int FailuresLeft { get; set; }

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            long? from = request.Headers.Range?.Ranges.Single().From;
            var record = new Request(request.RequestUri!.ToString(), from);
            Requests.Add(record);
            if (Unreachable)
                throw new HttpRequestException("Name or service not known (huggingface.co:443)", new SocketException((int)SocketError.HostNotFound));
            if (!Files.TryGetValue(Path.GetFileName(request.RequestUri.AbsolutePath), out var file))
                return Task.FromResult(new HttpResponseMessage(HttpStatusCode.NotFound));

            long start = IgnoreRange ? 0 : from ?? 0;
            if (start >= file.Length && start > 0)
                return Task.FromResult(new HttpResponseMessage(HttpStatusCode.RequestedRangeNotSatisfiable));
            var body = file[(int)start..];
            int? failAfter = null;
            if (FailuresLeft > 0)
            {
                FailuresLeft--;
                failAfter = FailAfterBytes;
            }
            record.BytesSent = failAfter ?? body.Length;
            // Not seekable, so StreamContent cannot work out a Content-Length by itself.
            var stream = new ServedStream(body, failAfter);
            var content = new StreamContent(stream);
            if (!OmitLength) content.Headers.ContentLength = body.Length;
            var response = new HttpResponseMessage(start > 0 ? HttpStatusCode.PartialContent : HttpStatusCode.OK) { Content = content };
            if (start > 0) content.Headers.ContentRange = new ContentRangeHeaderValue(start, file.Length - 1, file.Length);
            return Task.FromResult(response);
        }
    }

    /// <summary>Serves bytes; with <c>failAfter</c>, fails after that many as a reset connection does.</summary>
    sealed class ServedStream(byte[] data, int? failAfter) : Stream
    {
        int _position;
        public override int Read(byte[] buffer, int offset, int count)
        {
            if (_position >= failAfter) throw new IOException("connection reset by peer");
            int n = Math.Min(count, Math.Min(failAfter ?? data.Length, data.Length) - _position);
            Array.Copy(data, _position, buffer, offset, n);
            _position += n;
            return n;
        }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _position; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
