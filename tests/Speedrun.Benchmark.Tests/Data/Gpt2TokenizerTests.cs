using Microsoft.ML.Tokenizers;
using Speedrun.Benchmark.Data;

namespace Speedrun.Benchmark.Tests.Data;

public class Gpt2TokenizerTests
{
    static readonly Gpt2Tokenizer Tok = Gpt2Tokenizer.Shared;

    // Published ids, not produced by this code:
    //  [HF]  Hugging Face transformers, GPT2Tokenizer docstring (models/gpt2/tokenization_gpt2.py):
    //        "Hello world" → [15496, 995], " Hello world" → [18435, 995].
    //  [TT]  openai/tiktoken tests/test_encoding.py, encoding "gpt2": test_simple ("hello world"),
    //        test_simple_repeated (runs of zeros), test_encode_empty.
    //  [TC]  openai/tiktoken tiktoken/core.py, Encoding.encode docstring: "<|endoftext|>" with
    //        disallowed_special=() → [27, 91, 437, 1659, 5239, 91, 29].
    //  [V]   GPT-2's vocab.json (encoder.json of OpenAI's release): "Ġthe" (" the") = 262.
    public static TheoryData<string, int[]> Published => new()
    {
        { "Hello world", [15496, 995] },          // [HF]
        { " Hello world", [18435, 995] },         // [HF]
        { "hello world", [31373, 995] },          // [TT]
        { " the", [262] },                        // [V]
        { "0", [15] },                            // [TT]
        { "000000000", [10535, 830] },            // [TT]
        { "0000000000000000", [25645] },          // [TT]
        { "00000000000000000", [8269, 10535, 830] }, // [TT]
        { "<|endoftext|>", [27, 91, 437, 1659, 5239, 91, 29] }, // [TC] ordinary encoding
        { "", [] },                               // [TT]
    };

    [Theory, MemberData(nameof(Published))]
    public void EncodeMatchesPublishedTiktokenIds(string text, int[] expected) => Assert.Equal(expected, Tok.Encode(text));

    [Fact]
    public void TextBeforeAnEndOfTextTokenizesAsTiktokenSplitsIt()
    {
        // [TT] encode("hello <|endoftext|>", allowed_special="all") == [31373, 220, 50256]: the text before the
        // special token is encoded on its own, which is what a document followed by the next document's EOT is.
        Assert.Equal([31373, 220], Tok.Encode("hello "));
    }

    [Fact]
    public void EncodeDocumentPrefixesEndOfText()
    {
        Assert.Equal([50256, 15496, 995], Tok.EncodeDocument("Hello world"));
        Assert.Equal([50256], Tok.EncodeDocument(""));
        Assert.Equal(50256, Gpt2Tokenizer.EndOfText);
        Assert.Equal(50257, Gpt2Tokenizer.VocabSize);
    }

    [Fact]
    public void DecodeMatchesPublishedText()
    {
        Assert.Equal("hello world", Tok.Decode([31373, 995]));                      // [TT]
        Assert.Equal("<|endoftext|>Hello world", Tok.Decode([50256, 15496, 995]));
        Assert.Equal("<|endoftext|>", Tok.Decode([27, 91, 437, 1659, 5239, 91, 29])); // [TC]
        Assert.Throws<ArgumentOutOfRangeException>(() => Tok.Decode([50257]));
    }

    [Fact]
    public void RoundTripsUnicodeAndWhitespace()
    {
        foreach (var s in new[] { "hello  ", " hello \n\n  world\t!", "请考试我的软件！12345", "naïve café — “quotes”", "emoji 👍🏽 end" })
            Assert.Equal(s, Tok.Decode(Tok.Encode(s)));
    }

    [Fact]
    public void AgreesWithTheLibrarysGpt2ModelOnTextWithoutSpecialTokens()
    {
        // The library's own gpt2 tokenizer differs from ours only in treating "<|endoftext|>" as special.
        var library = TiktokenTokenizer.CreateForModel("gpt2");
        foreach (var s in new[] { "It's a test: they'll've done 3.14159 things!!", "  leading spaces\r\n\ttabs", "Ünïcödé ﬁ ligature ½ ⅞ ٣" })
            Assert.Equal(library.EncodeToIds(s), Tok.Encode(s));
    }
}
