using System.ClientModel;
using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.AI;

namespace Speedrun.Benchmark.Agents;

/// <summary>How a model is asked: retries on rate limits (HTTP 429), server errors and timeouts, with exponential
/// backoff (or the server's Retry-After, up to a minute), at most <see cref="Retries"/> times; then the call is a
/// recorded failure.</summary>
public sealed record CallPolicy(int Retries, TimeSpan Backoff, TimeSpan RequestTimeout)
{
    public static readonly CallPolicy Default = new(4, TimeSpan.FromSeconds(2), TimeSpan.FromMinutes(10));

    /// <summary>The wait before retry <paramref name="retry"/> (1-based): Backoff × 2^(retry−1), at most a minute.</summary>
    public TimeSpan Delay(int retry, TimeSpan? retryAfter) =>
        retryAfter is { } r && r >= TimeSpan.Zero && r <= TimeSpan.FromMinutes(1)
            ? r
            : TimeSpan.FromTicks(Math.Min(TimeSpan.FromMinutes(1).Ticks, Backoff.Ticks * (1L << Math.Min(retry - 1, 20))));
}

/// <summary>What one call (with its retries) produced: the reply text and the id of the successful try, or the
/// last error; <see cref="Tries"/> is the number of the last try (every try of the node, a resumed node's earlier ones
/// included).</summary>
public sealed record ModelAnswer(string? Text, long? CallId, string? Error, int Tries);

/// <summary>
/// Sends one prompt to an <see cref="IChatClient"/> and records every try through <paramref name="record"/>,
/// failed ones included. The API key is never seen here; <paramref name="redact"/> scrubs it from any text that is
/// recorded all the same (an error message that echoes it).
/// </summary>
public sealed class ModelCaller(IChatClient client, CallPolicy policy, Func<ModelCallRecord, long> record, Func<string, string> redact)
{
    public const string SystemPrompt = AgentPrompts.System;

    /// <param name="firstTry">The number of the first try (a resumed node goes on after the tries recorded before).</param>
    public ModelAnswer Ask(string session, int node, int? parent, string stage, string prompt, CancellationToken cancel, int firstTry = 1)
    {
        string? lastError = null;
        int lastTry = firstTry + policy.Retries;
        for (int attempt = firstTry; attempt <= lastTry; attempt++)
        {
            cancel.ThrowIfCancellationRequested();
            var started = DateTimeOffset.UtcNow;
            var clock = Stopwatch.StartNew();
            TimeSpan? retryAfter = null;
            bool retryable;
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
                timeout.CancelAfter(policy.RequestTimeout);
                ChatResponse response;
                try
                {
                    response = client.GetResponseAsync(
                        [new ChatMessage(ChatRole.System, SystemPrompt), new ChatMessage(ChatRole.User, prompt)],
                        options: null, timeout.Token).GetAwaiter().GetResult();
                }
                catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
                {
                    throw new TimeoutException($"no answer within {policy.RequestTimeout.TotalSeconds:F0} s");
                }
                var text = response.Text;
                long id = record(new ModelCallRecord
                {
                    Session = session, Node = node, ParentNode = parent, Stage = stage, Try = attempt, Prompt = redact(prompt),
                    Response = redact(text), TokensIn = response.Usage?.InputTokenCount, TokensOut = response.Usage?.OutputTokenCount,
                    LatencySeconds = clock.Elapsed.TotalSeconds, StartedAt = started,
                });
                return new ModelAnswer(text, id, null, attempt);
            }
            catch (ClientResultException e)
            {
                lastError = string.Create(CultureInfo.InvariantCulture, $"HTTP {e.Status}: {FirstLine(e.Message)}");
                retryable = e.Status is 408 or 409 or 429 or >= 500 or 0;
                if (e.GetRawResponse() is { } raw && raw.Headers.TryGetValue("Retry-After", out var after) &&
                    double.TryParse(after, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds))
                    retryAfter = TimeSpan.FromSeconds(seconds);
            }
            catch (TimeoutException e)
            {
                lastError = $"timed out: {e.Message}";
                retryable = true;
            }
            catch (HttpRequestException e)
            {
                lastError = $"request failed: {FirstLine(e.Message)}";
                retryable = true;
            }
            catch (OperationCanceledException) when (cancel.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception e) when (e is InvalidOperationException or System.Text.Json.JsonException or IOException)
            {
                lastError = $"unusable answer: {FirstLine(e.Message)}";
                retryable = false;
            }
            lastError = redact(lastError);
            record(new ModelCallRecord
            {
                Session = session, Node = node, ParentNode = parent, Stage = stage, Try = attempt, Prompt = redact(prompt),
                LatencySeconds = clock.Elapsed.TotalSeconds, Error = lastError, StartedAt = started,
            });
            if (!retryable || attempt == lastTry) return new ModelAnswer(null, null, lastError, attempt);
            int retry = attempt - firstTry + 1;
            var delay = policy.Delay(retry, retryAfter);
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"agent: model call for node {node} failed ({lastError}); retry {retry} of {policy.Retries} in {delay.TotalSeconds:F1} s"));
            if (cancel.WaitHandle.WaitOne(delay)) cancel.ThrowIfCancellationRequested();
        }
        return new ModelAnswer(null, null, lastError, lastTry);
    }

    static string FirstLine(string text)
    {
        var line = text.Split('\n')[0].Trim();
        return line.Length > 300 ? line[..300] + "..." : line;
    }
}
