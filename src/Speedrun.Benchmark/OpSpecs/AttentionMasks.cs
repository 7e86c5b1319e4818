using ILGPU;
using Speedrun.Core.Autograd;
using Speedrun.Kernels.Ops;

namespace Speedrun.Benchmark.OpSpecs;

/// <summary>
/// The masks the flex_attention specs check, in the records' terms: causal, same document (ids from the
/// end-of-text markers of a token stream, by a prefix sum on the device), a sliding window (q − k &lt; window),
/// and rows that see nothing. One struct with runtime fields, so every combination is one kernel instantiation.
/// </summary>
public readonly struct SpecMask : IMaskMod
{
    readonly ArrayView<int> _documents;
    // ints, not bools: a kernel argument must be blittable, and bool is not.
    readonly int _window, _silentEvery, _causal, _byDocument;

    /// <param name="causal">k ≤ q.</param>
    /// <param name="documents">Document id per position, or an empty view for none.</param>
    /// <param name="window">Keys with q − k &lt; window (0: no window).</param>
    /// <param name="silentEvery">Rows q with q % silentEvery == silentEvery − 1 see nothing (0: none).</param>
    public SpecMask(bool causal, ArrayView<int> documents, int window, int silentEvery)
    {
        _causal = causal ? 1 : 0;
        _documents = documents;
        _byDocument = documents.Length > 0 ? 1 : 0;
        _window = window;
        _silentEvery = silentEvery;
    }

    /// <inheritdoc/>
    public bool Visible(int query, int key) =>
        (_causal == 0 || key <= query)
        && (_byDocument == 0 || _documents[query] == _documents[key])
        && (_window <= 0 || query - key < _window)
        && (_silentEvery <= 0 || query % _silentEvery != _silentEvery - 1);
}

/// <summary>Documents of <see cref="Positions"/> positions each (a multiple of the block size), as an element
/// mask and as its block-level form: pairs of blocks in one document are full, the rest empty, so no partial
/// list has an entry.</summary>
public readonly struct AlignedDocuments(int positions) : IBlockMaskMod, IMaskMod
{
    /// <summary>Positions per document.</summary>
    public int Positions { get; } = positions;

    /// <inheritdoc/>
    public bool Visible(int query, int key) => query / Positions == key / Positions;

    /// <inheritdoc/>
    public BlockKind Kind(int queryBlock, int keyBlock, int blockSize) =>
        queryBlock * blockSize / Positions == keyBlock * blockSize / Positions ? BlockKind.Full : BlockKind.Empty;
}

/// <summary>The end-of-text id the spec masks use in their token inputs (ids are drawn from [0, 12)).</summary>
public static class SpecMasks
{
    /// <summary>Token id that starts a document.</summary>
    public const int EndOfText = 0;

    /// <summary>Token ids are drawn from [0, <see cref="Vocabulary"/>): about one document start in 12 positions.</summary>
    public const int Vocabulary = 12;

    /// <summary>flex_attention under <see cref="SpecMask"/>, the document ids computed from <paramref name="tokens"/>
    /// on the device (null: no document mask).</summary>
    public static Tensor Attention(Tensor q, Tensor k, Tensor v, Tensor? tokens, bool causal, int window, int silentEvery,
        int blockSize, float? scale = null)
    {
        var documents = tokens is null ? default : F.CumSum(F.Eq(tokens, EndOfText)).I32;
        var mask = new SpecMask(causal, documents, window, silentEvery);
        return F.FlexAttention(q, k, v, BlockMask.Create(q.Device, mask, q.Dim(2), blockSize), scale);
    }
}
