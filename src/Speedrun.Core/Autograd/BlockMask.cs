using Speedrun.Kernels.Ops;

namespace Speedrun.Core.Autograd;

/// <summary>
/// A block-sparse attention mask, as FlexAttention's BlockMask: the sequence is cut into blocks of
/// <see cref="BlockSize"/> positions, and every (query block, key block) pair is <see cref="BlockKind.Empty"/>
/// (skipped), <see cref="BlockKind.Full"/> (computed without evaluating the mask) or
/// <see cref="BlockKind.Partial"/> (computed, with <see cref="Mask"/> evaluated per element). Build one with
/// <see cref="BlockMask.Create{TMask}"/> (evaluates the mask on every element, like create_block_mask) or
/// <c>BlockMask.FromBlocks</c> (one call per block pair); pass it to
/// <see cref="F.FlexAttention{TMask}"/>. One mask serves every batch row and head. Its storage is a tensor of
/// the current <see cref="TensorScope"/>, so a mask built inside a training step is freed with the step.
/// </summary>
public sealed class BlockMask<TMask> where TMask : struct, IMaskMod
{
    readonly Tensor _storage;

    internal BlockMask(TMask mask, int length, int blockSize, Tensor storage, BlockSparsity sparsity)
    {
        Mask = mask;
        Length = length;
        BlockSize = blockSize;
        _storage = storage;
        Sparsity = sparsity;
    }

    /// <summary>The element mask, evaluated inside partial blocks.</summary>
    public TMask Mask { get; }

    /// <summary>The sequence length the mask covers (queries and keys).</summary>
    public int Length { get; }

    /// <summary>Positions per block.</summary>
    public int BlockSize { get; }

    /// <summary>Blocks a side: ⌈Length / BlockSize⌉.</summary>
    public int Blocks => Sparsity.Blocks;

    internal BlockSparsity Sparsity { get; }

    internal Tensor Storage => _storage;

    /// <summary>The kind of every pair, [query block, key block], copied to the host (for tests and reports).</summary>
    public BlockKind[,] Kinds()
    {
        int n = Blocks;
        var all = _storage.ToIntArray();
        var kinds = new BlockKind[n, n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) kinds[i, j] = (BlockKind)all[i * n + j];
        return kinds;
    }

    /// <summary>The fraction of block pairs computed (full or partial): what flash attention costs against dense.</summary>
    public double Density()
    {
        var kinds = Kinds();
        int computed = 0;
        foreach (var kind in kinds) if (kind != BlockKind.Empty) computed++;
        return (double)computed / kinds.Length;
    }

    /// <summary>Returns "BlockMask(length, block, full/partial/empty pairs)".</summary>
    public override string ToString()
    {
        int full = 0, partial = 0, empty = 0;
        foreach (var kind in Kinds())
        {
            if (kind == BlockKind.Full) full++;
            else if (kind == BlockKind.Partial) partial++;
            else empty++;
        }
        return $"BlockMask<{typeof(TMask).Name}>(length {Length}, block {BlockSize}: {full} full, {partial} partial, {empty} empty pairs)";
    }
}

/// <summary>Builds <see cref="BlockMask{TMask}"/>s (FlexAttention's create_block_mask).</summary>
public static class BlockMask
{
    /// <summary>
    /// A block mask over <paramref name="length"/> positions from the element mask alone: every pair of blocks is
    /// classified by evaluating <paramref name="mask"/> on its elements, on the device.
    /// <paramref name="blockSize"/>: a multiple of 16 from 16 to 256 (128, FlexAttention's default).
    /// </summary>
    public static BlockMask<TMask> Create<TMask>(Device device, TMask mask, int length, int blockSize = 128)
        where TMask : struct, IMaskMod
    {
        int blocks = BlockMaskKernels.CheckSizes("BlockMask.Create", length, blockSize);
        var storage = Tensor.Empty(device, DType.I32, (int)BlockMaskKernels.StorageLength(blocks));
        var sparsity = device.BlockMasks().FromElements(mask, length, blockSize, storage.I32);
        return new BlockMask<TMask>(mask, length, blockSize, storage, sparsity);
    }

    /// <summary>
    /// A block mask whose pairs <paramref name="blocks"/> classifies, one call per pair, with
    /// <paramref name="mask"/> evaluated inside the partial ones. The two must agree (see
    /// <see cref="IBlockMaskMod"/>); a full pair that hides an element would let it be seen.
    /// </summary>
    public static BlockMask<TMask> FromBlocks<TMask, TBlocks>(Device device, TMask mask, TBlocks blocks, int length, int blockSize = 128)
        where TMask : struct, IMaskMod where TBlocks : struct, IBlockMaskMod =>
        FromBlocksOwned(device, mask, blocks, length, blockSize, persistent: false);

    /// <summary>As the public overload; a <paramref name="persistent"/> mask outlives every scope (its owner
    /// disposes <see cref="BlockMask{TMask}.Storage"/>).</summary>
    internal static BlockMask<TMask> FromBlocksOwned<TMask, TBlocks>(Device device, TMask mask, TBlocks blocks, int length,
        int blockSize, bool persistent)
        where TMask : struct, IMaskMod where TBlocks : struct, IBlockMaskMod
    {
        int n = BlockMaskKernels.CheckSizes("BlockMask.FromBlocks", length, blockSize);
        int size = (int)BlockMaskKernels.StorageLength(n);
        var storage = persistent ? Tensor.Persistent(device, DType.I32, size) : Tensor.Empty(device, DType.I32, size);
        var sparsity = device.BlockMasks().FromBlocks(blocks, length, blockSize, storage.I32);
        return new BlockMask<TMask>(mask, length, blockSize, storage, sparsity);
    }

    /// <summary>The causal mask's block mask (diagonal blocks partial, earlier ones full), built per pair.</summary>
    public static BlockMask<CausalMask> Causal(Device device, int length, int blockSize = 128) =>
        FromBlocks(device, new CausalMask(), new CausalBlocks(), length, blockSize);
}
