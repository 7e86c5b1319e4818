using System.ClientModel;
using System.ClientModel.Primitives;
using Microsoft.Extensions.AI;
using OpenAI;

namespace Speedrun.Benchmark.Agents;

/// <summary>
/// A chat model behind an OpenAI-compatible chat-completions endpoint (OpenAI itself, vLLM, llama.cpp, Ollama,
/// LiteLLM, a test server), as an <see cref="IChatClient"/>. The key is passed in, used for the Authorization
/// header and kept nowhere else; the client's own retries are off (<see cref="ModelCaller"/> retries, and records
/// each try).
/// </summary>
public static class ModelEndpoint
{
    public static IChatClient Create(string model, Uri? endpoint, string apiKey, TimeSpan requestTimeout)
    {
        var options = new OpenAIClientOptions
        {
            RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
            NetworkTimeout = requestTimeout + TimeSpan.FromSeconds(5),
        };
        if (endpoint is not null) options.Endpoint = endpoint;
        // Local servers take any key; the client library insists on a non-empty one.
        var key = string.IsNullOrEmpty(apiKey) ? "none" : apiKey;
        return new OpenAI.Chat.ChatClient(model, new ApiKeyCredential(key), options).AsIChatClient();
    }

    /// <summary>The endpoint as it may be recorded: scheme, host, port and path, without user info or query.</summary>
    public static string Describe(Uri? endpoint) =>
        endpoint is null ? "default" : endpoint.GetComponents(UriComponents.SchemeAndServer | UriComponents.Path, UriFormat.UriEscaped);

    /// <summary>Parses --endpoint: an absolute http(s) URL.</summary>
    public static Uri? Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            throw new ArgumentException($"--endpoint '{text}' is not an http(s) URL; give the API's base, e.g. http://127.0.0.1:8000/v1.");
        return uri;
    }
}
