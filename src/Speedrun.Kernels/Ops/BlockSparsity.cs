using ILGPU;

namespace Speedrun.Kernels.Ops;

/// <summary>
/// The device layout of a block mask over a sequence of <see cref="Length"/> positions cut into
/// <see cref="Blocks"/> blocks of <see cref="BlockSize"/> (the last one may be short). For each query block i:
/// FullCount[i] key blocks that it sees entirely, listed ascending in FullIndex[i·Blocks ..], and
/// PartialCount[i] key blocks it sees in part (the mask is evaluated there), in PartialIndex[i·Blocks ..].
/// The transposed lists (per key block j, the query blocks that see it fully or in part) serve the backward
/// pass over key blocks. Pairs in neither list are skipped.
/// </summary>
internal readonly struct BlockSparsity
{
    public readonly int Length, BlockSize, Blocks;
    public readonly ArrayView<int> FullCount, FullIndex, PartialCount, PartialIndex;
    public readonly ArrayView<int> FullQueryCount, FullQueryIndex, PartialQueryCount, PartialQueryIndex;

    public BlockSparsity(int length, int blockSize,
        ArrayView<int> fullCount, ArrayView<int> fullIndex, ArrayView<int> partialCount, ArrayView<int> partialIndex,
        ArrayView<int> fullQueryCount, ArrayView<int> fullQueryIndex, ArrayView<int> partialQueryCount,
        ArrayView<int> partialQueryIndex)
    {
        Length = length;
        BlockSize = blockSize;
        Blocks = BlocksFor(length, blockSize);
        FullCount = fullCount; FullIndex = fullIndex; PartialCount = partialCount; PartialIndex = partialIndex;
        FullQueryCount = fullQueryCount; FullQueryIndex = fullQueryIndex;
        PartialQueryCount = partialQueryCount; PartialQueryIndex = partialQueryIndex;
    }

    /// <summary>Blocks of <paramref name="blockSize"/> covering <paramref name="length"/> positions.</summary>
    public static int BlocksFor(int length, int blockSize) => (length + blockSize - 1) / blockSize;
}
