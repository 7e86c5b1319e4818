using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Speedrun.Benchmark.Agents;

/// <summary>One scripted answer: a reply (HTTP 200 with <see cref="Content"/>), or an error status (429 with an
/// optional Retry-After), each after an optional delay (longer than the client's timeout makes a timeout).</summary>
public sealed record ScriptedReply(string? Content = null, int Status = 200, double DelaySeconds = 0, string? RetryAfter = null)
{
    public static ScriptedReply Program(string source) => new($"Here is the whole program.\n\n```csharp\n{source.TrimEnd()}\n```\n");
    public static ScriptedReply Diff(string diff) => new($"A diff against the program shown.\n\n```diff\n{diff.TrimEnd()}\n```\n");
    public static ScriptedReply RateLimited(string retryAfter = "0") => new(Status: 429, RetryAfter: retryAfter);
    public static ScriptedReply Slow(double seconds, string content) => new(content, DelaySeconds: seconds);
}

/// <summary>A request the server received.</summary>
public sealed record ScriptedRequest(string Path, string? Authorization, string Body, int ReplyIndex);

/// <summary>
/// A small HTTP server on 127.0.0.1 that speaks the OpenAI chat-completions protocol (POST .../chat/completions,
/// non-streaming) and answers from a script, in order; past the end it repeats the last answer (or, with
/// <paramref name="repeatLast"/> false, answers 500). For tests and for trying `speedrun agent` offline
/// (`speedrun agent-test-server`). It really listens on a port; clients reach it through their real HTTP stack.
/// </summary>
public sealed class ScriptedChatServer : IDisposable
{
    readonly HttpListener _listener = new();
    readonly IReadOnlyList<ScriptedReply> _script;
    readonly bool _repeatLast;
    readonly List<ScriptedRequest> _requests = [];
    readonly Task _loop;
    int _next;

    public ScriptedChatServer(IReadOnlyList<ScriptedReply> script, int port = 0, bool repeatLast = true)
    {
        if (script.Count == 0) throw new ArgumentException("The script has no replies.", nameof(script));
        _script = script;
        _repeatLast = repeatLast;
        Port = port == 0 ? FreePort() : port;
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _loop = Task.Run(Loop);
    }

    public int Port { get; }

    /// <summary>The base URL to give as --endpoint.</summary>
    public string Endpoint => $"http://127.0.0.1:{Port}/v1";

    public IReadOnlyList<ScriptedRequest> Requests { get { lock (_requests) return [.. _requests]; } }

    static int FreePort()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return port;
    }

    async Task Loop()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try { context = await _listener.GetContextAsync().ConfigureAwait(false); }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException) { return; }
            _ = Task.Run(() => Answer(context));
        }
    }

    async Task Answer(HttpListenerContext context)
    {
        try
        {
            string body;
            using (var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8)) body = await reader.ReadToEndAsync().ConfigureAwait(false);
            var path = context.Request.Url?.AbsolutePath ?? "";
            var response = context.Response;
            if (context.Request.HttpMethod != "POST" || !path.EndsWith("/chat/completions", StringComparison.Ordinal))
            {
                await Write(response, 404, """{"error":{"message":"only POST .../chat/completions is served here","type":"not_found"}}""").ConfigureAwait(false);
                return;
            }
            int index = Interlocked.Increment(ref _next) - 1;
            lock (_requests) _requests.Add(new ScriptedRequest(path, context.Request.Headers["Authorization"], body, index));
            if (index >= _script.Count && !_repeatLast)
            {
                await Write(response, 500, """{"error":{"message":"the test script has no more replies","type":"server_error"}}""").ConfigureAwait(false);
                return;
            }
            var reply = _script[Math.Min(index, _script.Count - 1)];
            if (reply.DelaySeconds > 0) await Task.Delay(TimeSpan.FromSeconds(reply.DelaySeconds)).ConfigureAwait(false);
            if (reply.Status != 200)
            {
                if (reply.RetryAfter is not null) response.AddHeader("Retry-After", reply.RetryAfter);
                await Write(response, reply.Status,
                    JsonSerializer.Serialize(new { error = new { message = $"scripted status {reply.Status}", type = "rate_limit_exceeded" } })).ConfigureAwait(false);
                return;
            }
            string model = "scripted";
            try
            {
                using var request = JsonDocument.Parse(body);
                if (request.RootElement.TryGetProperty("model", out var m) && m.GetString() is { } name) model = name;
            }
            catch (JsonException) { }
            var content = reply.Content ?? "";
            var json = JsonSerializer.Serialize(new
            {
                id = $"chatcmpl-scripted-{index}",
                @object = "chat.completion",
                created = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
                model,
                choices = new[] { new { index = 0, message = new { role = "assistant", content }, finish_reason = "stop" } },
                usage = new { prompt_tokens = body.Length / 4, completion_tokens = content.Length / 4, total_tokens = body.Length / 4 + content.Length / 4 },
            });
            await Write(response, 200, json).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or IOException or InvalidOperationException)
        {
            // The client gave up (a timeout), or the server is stopping.
        }
    }

    static async Task Write(HttpListenerResponse response, int status, string json)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        response.StatusCode = status;
        response.ContentType = "application/json";
        response.ContentLength64 = bytes.Length;
        await response.OutputStream.WriteAsync(bytes).ConfigureAwait(false);
        response.Close();
    }

    public void Dispose()
    {
        try { _listener.Stop(); _listener.Close(); } catch (ObjectDisposedException) { }
        try { _loop.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
    }
}
