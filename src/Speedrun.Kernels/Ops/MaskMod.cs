namespace Speedrun.Kernels.Ops;

// Attention masks as operator structs (FlexAttention's mask_mod): Visible(q, k) says whether query position q
// may attend to key position k. Kernels are generic over the struct, so a mask costs no call and no branch
// on a function pointer, and a training program can define its own (same document, sliding window, ...) with
// fields that are runtime arguments (a window length, a view of document ids): changing them every step
// recompiles nothing. A mask is evaluated only inside the partial blocks of a BlockMask; full blocks skip it.

/// <summary>Which keys a query may attend to (FlexAttention's mask_mod). Must be a pure function of its
/// arguments and the struct's fields, the same on every device. The struct is a kernel argument, so its fields
/// must be blittable: ints and views (ArrayView&lt;int&gt;), not bools or references.</summary>
public interface IMaskMod
{
    /// <summary>True when query position <paramref name="query"/> sees key position <paramref name="key"/>.</summary>
    bool Visible(int query, int key);
}

/// <summary>Causal: a query sees itself and every earlier key.</summary>
public readonly struct CausalMask : IMaskMod
{
    /// <inheritdoc/>
    public bool Visible(int query, int key) => key <= query;
}

/// <summary>No mask: every query sees every key.</summary>
public readonly struct FullMask : IMaskMod
{
    /// <inheritdoc/>
    public bool Visible(int query, int key) => true;
}

/// <summary>How a (query block, key block) pair of a block mask is treated.</summary>
public enum BlockKind
{
    /// <summary>No query of the block sees any key of the other: skipped.</summary>
    Empty = 0,
    /// <summary>Some are visible: computed, with the mask evaluated element by element.</summary>
    Partial = 1,
    /// <summary>Every query sees every key: computed without evaluating the mask.</summary>
    Full = 2,
}

/// <summary>
/// A block-level description of a mask, for building a block mask without evaluating every element (what
/// the speedrun records from 15 on do by hand from per-block document ranges). It must agree with the
/// element mask it goes with: <see cref="BlockKind.Full"/> only where every element is visible, and
/// <see cref="BlockKind.Empty"/> only where none is.
/// </summary>
public interface IBlockMaskMod
{
    /// <summary>The kind of the pair (query block <paramref name="queryBlock"/>, key block
    /// <paramref name="keyBlock"/>) for blocks of <paramref name="blockSize"/> positions.</summary>
    BlockKind Kind(int queryBlock, int keyBlock, int blockSize);
}
