using ILGPU;
using ILGPU.Runtime;

namespace Speedrun.Kernels.Ops;

// Building a block mask (FlexAttention's create_block_mask) on the device, in two steps:
//   1. kinds[i·n + j] ∈ {Empty, Partial, Full} for every (query block i, key block j), n = blocks:
//      - from an element mask: count the visible elements of the pair (stop once both a visible and a hidden one
//        were seen): none → Empty, all → Full, else Partial;
//      - or from a block-level mask (IBlockMaskMod), one call per pair.
//   2. the lists: per query block, its full and its partial key blocks in ascending order, and per key block the
//      query blocks that see it (the transposed lists the backward walks), one thread per row or column.
// Storage, one int buffer: kinds (n²), then counts and indices for the four lists (4·n + 4·n²).

internal static class BlockMaskKernelMethods
{
    /// <summary>The kind of pair (qb, kb) by evaluating the mask on its elements.</summary>
    public static int PairKind<TMask>(TMask mask, int qb, int kb, int length, int blockSize) where TMask : struct, IMaskMod
    {
        int q0 = qb * blockSize, q1 = Math.Min(length, q0 + blockSize);
        int k0 = kb * blockSize, k1 = Math.Min(length, k0 + blockSize);
        bool anyVisible = false, anyHidden = false;
        for (int q = q0; q < q1; q++)
        {
            for (int k = k0; k < k1; k++)
            {
                if (mask.Visible(q, k)) anyVisible = true;
                else anyHidden = true;
            }
            if (anyVisible && anyHidden) return (int)BlockKind.Partial;
        }
        return anyVisible ? (int)BlockKind.Full : (int)BlockKind.Empty;
    }

    [Kernel(typeof(CausalMask), typeof(FullMask))]
    internal static void ClassifyElementsKernel<TMask>(ArrayView<int> kinds, TMask mask, int length, int blockSize, int blocks)
        where TMask : struct, IMaskMod
    {
        int pairs = blocks * blocks, stride = Threads.Count;
        for (int p = Threads.Index; p < pairs; p += stride)
            kinds[p] = PairKind(mask, p / blocks, p % blocks, length, blockSize);
    }

    [Kernel(typeof(CausalBlocks), typeof(FullBlocks))]
    internal static void ClassifyBlocksKernel<TBlocks>(ArrayView<int> kinds, TBlocks blockMask, int blockSize, int blocks)
        where TBlocks : struct, IBlockMaskMod
    {
        int pairs = blocks * blocks, stride = Threads.Count;
        for (int p = Threads.Index; p < pairs; p += stride)
            kinds[p] = (int)blockMask.Kind(p / blocks, p % blocks, blockSize);
    }

    /// <summary>Rows r &lt; n: query block r's lists; rows n ≤ r &lt; 2n: key block r − n's transposed lists.</summary>
    [Kernel]
    internal static void ListsKernel(ArrayView<int> kinds, int blocks, ArrayView<int> lists)
    {
        int n = blocks, stride = Threads.Count;
        for (int r = Threads.Index; r < 2 * n; r += stride) FillLists(kinds, n, lists, r);
    }

    public static void FillLists(ArrayView<int> kinds, int n, ArrayView<int> lists, int r)
    {
        bool byQuery = r < n;
        int row = byQuery ? r : r - n;
        // Layout of lists: [fullCount n][fullIndex n²][partialCount n][partialIndex n²], first by query block,
        // then the same four by key block.
        long half = 2L * n + 2L * n * n, baseOffset = byQuery ? 0 : half;
        long fullCount = baseOffset, fullIndex = baseOffset + n, partialCount = fullIndex + (long)n * n,
            partialIndex = partialCount + n;
        int full = 0, partial = 0;
        for (int other = 0; other < n; other++)
        {
            int kind = byQuery ? kinds[row * n + other] : kinds[other * n + row];
            if (kind == (int)BlockKind.Full) lists[fullIndex + (long)row * n + full++] = other;
            else if (kind == (int)BlockKind.Partial) lists[partialIndex + (long)row * n + partial++] = other;
        }
        lists[fullCount + row] = full;
        lists[partialCount + row] = partial;
    }
}

/// <summary>The block-level form of <see cref="CausalMask"/>: diagonal blocks partial, earlier ones full.</summary>
public readonly struct CausalBlocks : IBlockMaskMod
{
    /// <inheritdoc/>
    public BlockKind Kind(int queryBlock, int keyBlock, int blockSize) =>
        keyBlock < queryBlock ? BlockKind.Full : keyBlock == queryBlock ? BlockKind.Partial : BlockKind.Empty;
}

/// <summary>The block-level form of <see cref="FullMask"/>: every pair full.</summary>
public readonly struct FullBlocks : IBlockMaskMod
{
    /// <inheritdoc/>
    public BlockKind Kind(int queryBlock, int keyBlock, int blockSize) => BlockKind.Full;
}

/// <summary>Builds block masks on one device.</summary>
internal sealed class BlockMaskKernels(Runtime.Device device)
{
    readonly Dictionary<Type, Delegate> _loaded = new();

    /// <summary>Ints of storage a mask over <paramref name="blocks"/> blocks needs (kinds, then the lists).</summary>
    public static long StorageLength(int blocks) => (long)blocks * blocks + 4L * blocks + 4L * blocks * blocks;

    /// <summary>Checks a mask's sizes; the message names the argument.</summary>
    public static int CheckSizes(string op, int length, int blockSize)
    {
        if (length < 1) throw new ArgumentException($"{op}: the sequence length must be at least 1 (got {length}).");
        if (blockSize < 16 || blockSize > 256 || blockSize % 16 != 0)
            throw new ArgumentException($"{op}: blockSize must be a multiple of 16 from 16 to 256 (got {blockSize}); 128 is FlexAttention's.");
        int blocks = BlockSparsity.BlocksFor(length, blockSize);
        if (StorageLength(blocks) > int.MaxValue)
            throw new ArgumentException($"{op}: {blocks} blocks a side is too many for one mask; use a larger blockSize.");
        return blocks;
    }

    /// <summary>Classifies every pair by evaluating <paramref name="mask"/> on its elements, into
    /// <paramref name="storage"/> (<see cref="StorageLength"/> ints), and returns the lists' view.</summary>
    public BlockSparsity FromElements<TMask>(TMask mask, int length, int blockSize, ArrayView<int> storage)
        where TMask : struct, IMaskMod
    {
        int n = CheckSizes("BlockMask.Create", length, blockSize);
        var kinds = storage.SubView(0, (long)n * n);
        if (device.RunsOnHost)
        {
            nint p = (nint)kinds.LoadEffectiveAddressAsPtr<int>();
            Parallel.For(0, n * n, pair =>
            {
                unsafe { ((int*)p)[pair] = BlockMaskKernelMethods.PairKind(mask, pair / n, pair % n, length, blockSize); }
            });
        }
        else
        {
            var kernel = Load<Action<KernelConfig, ArrayView<int>, TMask, int, int, int>>(typeof(TMask), acc =>
                acc.LoadStreamKernel<ArrayView<int>, TMask, int, int, int>(BlockMaskKernelMethods.ClassifyElementsKernel<TMask>));
            kernel(device.Launch.For((long)n * n), kinds, mask, length, blockSize, n);
        }
        return Lists(length, blockSize, storage);
    }

    /// <summary>Classifies every pair with the block-level <paramref name="blockMask"/>.</summary>
    public BlockSparsity FromBlocks<TBlocks>(TBlocks blockMask, int length, int blockSize, ArrayView<int> storage)
        where TBlocks : struct, IBlockMaskMod
    {
        int n = CheckSizes("BlockMask.FromBlocks", length, blockSize);
        var kinds = storage.SubView(0, (long)n * n);
        if (device.RunsOnHost)
        {
            nint p = (nint)kinds.LoadEffectiveAddressAsPtr<int>();
            unsafe
            {
                for (int pair = 0; pair < n * n; pair++) ((int*)p)[pair] = (int)blockMask.Kind(pair / n, pair % n, blockSize);
            }
        }
        else
        {
            var kernel = Load<Action<KernelConfig, ArrayView<int>, TBlocks, int, int>>(typeof(TBlocks), acc =>
                acc.LoadStreamKernel<ArrayView<int>, TBlocks, int, int>(BlockMaskKernelMethods.ClassifyBlocksKernel<TBlocks>));
            kernel(device.Launch.For((long)n * n), kinds, blockMask, blockSize, n);
        }
        return Lists(length, blockSize, storage);
    }

    BlockSparsity Lists(int length, int blockSize, ArrayView<int> storage)
    {
        int n = BlockSparsity.BlocksFor(length, blockSize);
        long nn = (long)n * n;
        var kinds = storage.SubView(0, nn);
        var lists = storage.SubView(nn, 4L * n + 4 * nn);
        if (device.RunsOnHost)
            for (int r = 0; r < 2 * n; r++) BlockMaskKernelMethods.FillLists(kinds, n, lists, r);
        else
        {
            var kernel = Load<Action<KernelConfig, ArrayView<int>, int, ArrayView<int>>>(typeof(BlockMaskKernels), acc =>
                acc.LoadStreamKernel<ArrayView<int>, int, ArrayView<int>>(BlockMaskKernelMethods.ListsKernel));
            kernel(device.Launch.For(2L * n), kinds, n, lists);
        }
        long half = 2L * n + 2 * nn;
        ArrayView<int> At(long offset, long count) => lists.SubView(offset, count);
        return new BlockSparsity(length, blockSize,
            At(0, n), At(n, nn), At(n + nn, n), At(2L * n + nn, nn),
            At(half, n), At(half + n, nn), At(half + n + nn, n), At(half + 2L * n + nn, nn));
    }

    T Load<T>(Type key, Func<Accelerator, T> load) where T : Delegate
    {
        if (_loaded.TryGetValue(key, out var existing)) return (T)existing;
        var created = load(device.Accelerator);
        _loaded[key] = created;
        return created;
    }
}

internal static class BlockMaskOps
{
    public static BlockMaskKernels BlockMasks(this Runtime.Device d) => d.Kernels(static d => new BlockMaskKernels(d));
}
