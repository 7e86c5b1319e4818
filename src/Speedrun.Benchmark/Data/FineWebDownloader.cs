using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using Speedrun.Core.Data;

namespace Speedrun.Benchmark.Data;

/// <summary>
/// Downloads the speedrun's FineWeb shards (Hugging Face dataset <c>kjj0/fineweb10B-gpt2</c>, as the
/// records' <c>data/cached_fineweb10B.py</c> does): <c>fineweb_val_000000.bin</c> and
/// <c>fineweb_train_000001.bin</c> … . Each file goes to <c>{name}.part</c> first; an interrupted
/// download resumes from the part's length with an HTTP Range request; a finished file must be exactly
/// as long as its header says (1024 + 2N bytes) before it is renamed into place; files already complete
/// are skipped.
/// </summary>
public sealed class FineWebDownloader : IDisposable
{
    /// <summary>Where the shards are published.</summary>
    public const string DefaultBaseUrl = "https://huggingface.co/datasets/kjj0/fineweb10B-gpt2/resolve/main/";
    /// <summary>Training shards in the dataset (fineweb_train_000001 … 000103, about 10.3B tokens).</summary>
    public const int TrainShardsAvailable = 103;

    readonly HttpClient _http;
    readonly bool _ownsHttp;
    readonly Uri _baseUri;

    /// <summary>A downloader using <paramref name="http"/> (null: a new client) and <paramref name="baseUrl"/>
    /// (null: <see cref="DefaultBaseUrl"/>; it should end with '/').</summary>
    public FineWebDownloader(HttpClient? http = null, string? baseUrl = null)
    {
        _ownsHttp = http is null;
        _http = http ?? new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(30) })
        {
            // The body is streamed and guarded by IdleTimeout; this bounds only the wait for headers.
            Timeout = TimeSpan.FromMinutes(2),
        };
        _baseUri = new Uri(baseUrl ?? DefaultBaseUrl);
    }

    /// <summary>Attempts per file before giving up on a failing connection.</summary>
    public int MaxAttempts { get; init; } = 4;
    /// <summary>Wait before retry k is k × this.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(2);
    /// <summary>A read that delivers nothing for this long is treated as a dropped connection.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>The files of a download of <paramref name="trainShards"/> training shards: the val shard first.</summary>
    public static IReadOnlyList<string> FileNames(int trainShards)
    {
        if (trainShards < 0 || trainShards > TrainShardsAvailable)
            throw new ArgumentOutOfRangeException(nameof(trainShards), trainShards,
                $"the dataset has {TrainShardsAvailable} training shards of 100M tokens; ask for 0 to {TrainShardsAvailable}");
        var names = new List<string> { "fineweb_val_000000.bin" };
        for (int i = 1; i <= trainShards; i++) names.Add($"fineweb_train_{i:D6}.bin");
        return names;
    }

    /// <summary>Downloads the val shard and the first <paramref name="trainShards"/> training shards into
    /// <paramref name="outDir"/>; returns their paths.</summary>
    public async Task<IReadOnlyList<string>> DownloadAsync(string outDir, int trainShards,
        IProgress<DownloadProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var names = FileNames(trainShards);
        Directory.CreateDirectory(outDir);
        var paths = new List<string>();
        for (int i = 0; i < names.Count; i++)
            paths.Add(await DownloadFileAsync(names[i], outDir, progress, i, names.Count, cancellationToken).ConfigureAwait(false));
        return paths;
    }

    /// <summary>Downloads one shard into <paramref name="outDir"/> (resuming a <c>.part</c>, skipping a complete
    /// file) and returns its path.</summary>
    public async Task<string> DownloadFileAsync(string fileName, string outDir, IProgress<DownloadProgress>? progress = null,
        int fileIndex = 0, int fileCount = 1, CancellationToken cancellationToken = default)
    {
        string final = Path.Combine(outDir, fileName);
        string part = final + ".part";
        if (File.Exists(final))
        {
            try
            {
                var header = ShardFormat.ReadHeader(final);
                progress?.Report(new DownloadProgress(fileName, fileIndex, fileCount, header.ExpectedFileLength, header.ExpectedFileLength, "skipped"));
                return final;
            }
            catch (ShardFormatException e) when (e.Kind == ShardProblem.Truncated && !File.Exists(part))
            {
                // A short file under the final name (an older tool, a copy cut short): resume it.
                File.Move(final, part);
            }
            catch (ShardFormatException e)
            {
                throw new FineWebDownloadException($"{e.Message} (delete it and run the download again)", e);
            }
        }

        var url = new Uri(_baseUri, fileName);
        Exception? lastError = null;
        for (int attempt = 1; attempt <= MaxAttempts; attempt++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                if (await TryFetchAsync(url, part, fileName, progress, fileIndex, fileCount, cancellationToken).ConfigureAwait(false))
                {
                    var header = ShardFormat.ReadHeader(part); // magic, version and exact length
                    File.Move(part, final, overwrite: false);
                    progress?.Report(new DownloadProgress(fileName, fileIndex, fileCount, header.ExpectedFileLength, header.ExpectedFileLength, "done"));
                    return final;
                }
                lastError = null; // came back short without an error: resume
            }
            catch (Exception e) when (IsTransient(e, cancellationToken))
            {
                lastError = e;
            }
            if (attempt < MaxAttempts && RetryDelay > TimeSpan.Zero)
                await Task.Delay(RetryDelay * attempt, cancellationToken).ConfigureAwait(false);
        }

        long have = File.Exists(part) ? new FileInfo(part).Length : 0;
        string kept = have > 0 ? $" The {have} bytes received are kept in '{part}'; run the download again to resume." : "";
        if (lastError is HttpRequestException { StatusCode: null } or TaskCanceledException)
            throw new FineWebDownloadException(
                $"could not download {fileName}: {url.Host} is unreachable ({Describe(lastError!)}) after {MaxAttempts} attempts. " +
                "Check the network connection and proxy settings (HTTPS_PROXY), or download the shards on another machine " +
                $"and copy them into '{Path.GetFullPath(outDir)}'.{kept}", lastError);
        throw new FineWebDownloadException(
            $"could not download {fileName} from {url} after {MaxAttempts} attempts: " +
            (lastError is null ? "the server kept ending the transfer early" : Describe(lastError)) + "." + kept, lastError);
    }

    // One request. Returns true when the part file is complete (its length matches its header), false
    // when the transfer ended early or the part had to be discarded (the caller tries again); throws on errors.
    async Task<bool> TryFetchAsync(Uri url, string part, string fileName, IProgress<DownloadProgress>? progress,
        int fileIndex, int fileCount, CancellationToken cancellationToken)
    {
        long have = File.Exists(part) ? new FileInfo(part).Length : 0;
        long? expected = have >= ShardFormat.HeaderBytes ? ExpectedLength(part) : null;
        if (expected is { } complete && have == complete) return true;
        if (expected is { } limit && have > limit)
        {
            File.Delete(part); // longer than its header allows: it cannot be resumed, start over
            return false;
        }

        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (have > 0) request.Headers.Range = new RangeHeaderValue(have, null);
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);

        if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
        {
            // The part is at least as long as the file on the server yet not complete by its own header.
            File.Delete(part);
            return false;
        }
        if (response.StatusCode == HttpStatusCode.NotFound)
            throw new FineWebDownloadException($"{url} does not exist (HTTP 404); check the file name and the dataset URL");
        if (!response.IsSuccessStatusCode)
            throw new HttpRequestException($"HTTP {(int)response.StatusCode} {response.ReasonPhrase} for {url}", null, response.StatusCode);

        bool resumed = have > 0 && response.StatusCode == HttpStatusCode.PartialContent;
        if (!resumed)
        {
            // A fresh transfer, or the server ignored the range and sends the whole file: start over and
            // check the header of what arrives.
            have = 0;
            expected = null;
        }
        long start = have;
        if (expected is { } known && ServerLengthProblem(response, start, known, url) is { } mismatch)
        {
            File.Delete(part); // the server holds a different file; the part cannot be completed from it
            throw new FineWebDownloadException(mismatch);
        }
        progress?.Report(new DownloadProgress(fileName, fileIndex, fileCount, have, expected, resumed ? "resuming" : "downloading"));

        string? refusal = null; // set when the bytes arriving cannot be a shard; the part is deleted
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (var output = new FileStream(part, resumed ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.Read, 1 << 16))
        {
            var buffer = new byte[1 << 20];
            long reported = have;
            while (true)
            {
                using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                idle.CancelAfter(IdleTimeout);
                int n;
                try { n = await body.ReadAsync(buffer, idle.Token).ConfigureAwait(false); }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    throw new TimeoutException($"no data from {url.Host} for {IdleTimeout.TotalSeconds:F0} s");
                }
                if (n == 0) break;
                await output.WriteAsync(buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
                have += n;
                if (expected is null && have >= ShardFormat.HeaderBytes)
                {
                    // Check the header as soon as it is here: an error page served with status 200 fails now.
                    await output.FlushAsync(cancellationToken).ConfigureAwait(false);
                    expected = ExpectedLength(part, output);
                    refusal = ServerLengthProblem(response, start, expected.Value, url);
                    if (refusal is not null) break;
                }
                if (expected is { } e && have > e)
                {
                    refusal = $"{url} sent more than the {e} bytes its shard header announces; the file on the server is not a valid shard";
                    break;
                }
                if (have - reported >= 8 << 20)
                {
                    reported = have;
                    progress?.Report(new DownloadProgress(fileName, fileIndex, fileCount, have, expected, "downloading"));
                }
            }
        }
        if (refusal is not null)
        {
            File.Delete(part);
            throw new FineWebDownloadException(refusal);
        }
        return expected is { } done && have == done;
    }

    // The complete length the header of a part file announces. A part that does not start with a shard
    // header is deleted (resuming it could never succeed) and the error says why.
    static long ExpectedLength(string part, FileStream? openForWriting = null)
    {
        var header = new byte[ShardFormat.HeaderBytes];
        using (var stream = new FileStream(part, FileMode.Open, FileAccess.Read, FileShare.ReadWrite)) stream.ReadExactly(header);
        try
        {
            return ShardFormat.FileLength(ShardFormat.ParseHeader(part, header));
        }
        catch (ShardFormatException e)
        {
            openForWriting?.Dispose();
            File.Delete(part);
            throw new FineWebDownloadException($"{e.Message} (the server did not send a shard; the partial file was deleted)", e);
        }
    }

    // The server's announced size must agree with the header; a mismatch means a different file.
    static string? ServerLengthProblem(HttpResponseMessage response, long offset, long expected, Uri url)
    {
        long? total = response.Content.Headers.ContentRange?.Length
                      ?? (response.Content.Headers.ContentLength is { } len ? offset + len : null);
        return total is { } t && t != expected
            ? $"{url}: the server announces {t} bytes but the shard header implies {expected}; the file on the server is not a valid shard"
            : null;
    }

    /// <summary>Disposes the HTTP client if this downloader created it.</summary>
    public void Dispose()
    {
        if (_ownsHttp) _http.Dispose();
    }

    static bool IsTransient(Exception e, CancellationToken cancellationToken) => e switch
    {
        FineWebDownloadException => false,
        OperationCanceledException when cancellationToken.IsCancellationRequested => false,
        HttpRequestException { StatusCode: { } code } => (int)code >= 500 || code == HttpStatusCode.TooManyRequests,
        HttpRequestException or IOException or TimeoutException or TaskCanceledException => true,
        _ => false,
    };

    static string Describe(Exception e)
    {
        var socket = e as SocketException ?? e.InnerException as SocketException ?? e.InnerException?.InnerException as SocketException;
        return socket is null ? e.Message : $"{e.Message} [{socket.SocketErrorCode}]";
    }
}
