using Speedrun.Kernels.Ops;

namespace Speedrun.Core.Autograd.Functions;

/// <summary>
/// The block masks of dense attention (causal, and no mask), built once per sequence length and device and kept
/// until the device is disposed: F.scaled_dot_product_attention runs flash attention under them.
/// </summary>
internal sealed class DenseMasks(Device device) : IDisposable
{
    /// <summary>Block size of the dense masks: FlexAttention's default, the kernels' tile multiple.</summary>
    public const int BlockSize = 128;

    readonly Dictionary<int, BlockMask<CausalMask>> _causal = new();
    readonly Dictionary<int, BlockMask<FullMask>> _full = new();

    public static DenseMasks For(Device device) => device.Kernels(static d => new DenseMasks(d));

    public BlockMask<CausalMask> Causal(int length)
    {
        if (!_causal.TryGetValue(length, out var mask))
            _causal[length] = mask = BlockMask.FromBlocksOwned(device, new CausalMask(), new CausalBlocks(), length, BlockSize, persistent: true);
        return mask;
    }

    public BlockMask<FullMask> Full(int length)
    {
        if (!_full.TryGetValue(length, out var mask))
            _full[length] = mask = BlockMask.FromBlocksOwned(device, new FullMask(), new FullBlocks(), length, BlockSize, persistent: true);
        return mask;
    }

    public void Dispose()
    {
        foreach (var mask in _causal.Values) mask.Storage.Dispose();
        foreach (var mask in _full.Values) mask.Storage.Dispose();
        _causal.Clear();
        _full.Clear();
    }
}
