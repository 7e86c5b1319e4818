using Speedrun.Benchmark.OpSpecs;
using Speedrun.Core.Autograd;
using Speedrun.Kernels.Ops;
using Speedrun.Tests.Torch;
using TorchSharp;

namespace Speedrun.Core.Tests.Autograd;

/// <summary>
/// BlockMask through the public API: the element-evaluated and the block-level builds agree, the kinds are what
/// the mask says (checked against every element), the device's document ids match torch's cumsum, and misuse gets a
/// message. How attention uses the mask is the flex_* op specs' job.
/// </summary>
public class BlockMaskTests
{
    static Device Cpu => Kernels.Tests.OpCheck.Cpu;
    static readonly Lazy<Device> WarpRows = new(Device.CreateCpuWithWarpRows);

    public static TheoryData<bool> Devices() => new() { false, true };

    /// <summary>The kind of every pair, from the mask's elements, written out here.</summary>
    static BlockKind[,] Expected(IMaskMod mask, int length, int blockSize)
    {
        int n = (length + blockSize - 1) / blockSize;
        var kinds = new BlockKind[n, n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                int visible = 0, total = 0;
                for (int q = i * blockSize; q < Math.Min(length, (i + 1) * blockSize); q++)
                    for (int k = j * blockSize; k < Math.Min(length, (j + 1) * blockSize); k++, total++)
                        if (mask.Visible(q, k)) visible++;
                kinds[i, j] = visible == 0 ? BlockKind.Empty : visible == total ? BlockKind.Full : BlockKind.Partial;
            }
        return kinds;
    }

    [Theory, MemberData(nameof(Devices))]
    public void CausalFromBlocksEqualsCausalFromElements(bool warpRows)
    {
        var device = warpRows ? WarpRows.Value : Cpu;
        using var scope = new TensorScope();
        var fromElements = BlockMask.Create(device, new CausalMask(), 70, 16);
        var fromBlocks = BlockMask.Causal(device, 70, 16);
        Assert.Equal(Expected(new CausalMask(), 70, 16), fromElements.Kinds());
        Assert.Equal(fromElements.Kinds(), fromBlocks.Kinds());
        Assert.Equal(5, fromBlocks.Blocks);
        Assert.Equal(15.0 / 25, fromBlocks.Density(), 12);
        Assert.Equal("BlockMask<CausalMask>(length 70, block 16: 10 full, 5 partial, 10 empty pairs)", fromBlocks.ToString());
    }

    /// <summary>Document ids from end-of-text markers on the device (F.Eq, F.CumSum) against torch, and the kinds of a
    /// causal ∧ document ∧ window mask over them against every element.</summary>
    [Theory, MemberData(nameof(Devices))]
    public void DocumentWindowKindsMatchEveryElement(bool warpRows)
    {
        var device = warpRows ? WarpRows.Value : Cpu;
        const int length = 300, blockSize = 32;
        var random = new Random(7);
        var tokens = Enumerable.Range(0, length).Select(_ => random.Next(SpecMasks.Vocabulary)).ToArray();
        using var scope = new TensorScope();
        var ids = Tensor.FromArray(device, tokens, length);
        var documents = F.CumSum(F.Eq(ids, SpecMasks.EndOfText));
        var expectedDocuments = TensorData.Read<long>(torch.tensor(tokens.Select(t => (long)t).ToArray()).eq(SpecMasks.EndOfText)
            .to_type(torch.ScalarType.Int64).cumsum(0)).Select(x => (int)x).ToArray();
        var got = documents.ToIntArray();
        Assert.Equal(expectedDocuments, got);
        Assert.True(got[^1] > 10, "the case needs many documents");

        var mask = new SpecMask(causal: true, documents.I32, window: 70, silentEvery: 0);
        var hostMask = new HostDocumentWindow(got, 70);
        var blockMask = BlockMask.Create(device, mask, length, blockSize);
        Assert.Equal(Expected(hostMask, length, blockSize), blockMask.Kinds());
        Assert.Contains(BlockKind.Partial, blockMask.Kinds().Cast<BlockKind>());
        Assert.Contains(BlockKind.Empty, blockMask.Kinds().Cast<BlockKind>());
    }

    /// <summary>The same rule on host arrays, for the expected kinds.</summary>
    readonly struct HostDocumentWindow(int[] documents, int window) : IMaskMod
    {
        public bool Visible(int query, int key) => key <= query && documents[query] == documents[key] && query - key < window;
    }

    [Fact]
    public void CumSumCoversLongRowsInPieces()
    {
        // 3 rows of 5000: several pieces per row on either device; the sums cross piece boundaries.
        var values = Enumerable.Range(0, 15000).Select(i => i % 7 - 3).ToArray();
        using var scope = new TensorScope();
        foreach (var device in new[] { Cpu, WarpRows.Value })
        {
            var sums = F.CumSum(Tensor.FromArray(device, values, 3, 5000)).ToIntArray();
            for (int r = 0; r < 3; r++)
            {
                int s = 0;
                for (int t = 0; t < 5000; t++)
                {
                    s += values[r * 5000 + t];
                    Assert.Equal(s, sums[r * 5000 + t]);
                }
            }
        }
    }

    [Fact]
    public void MisuseIsNamed()
    {
        using var scope = new TensorScope();
        var q = Tensor.Zeros(Cpu, 1, 1, 40, 8);
        var mask = BlockMask.Causal(Cpu, 48, 16);
        var e = Assert.ThrowsAny<Exception>(() => F.FlexAttention(q, q, q, mask));
        Assert.Contains("the block mask covers 48 positions but q has T=40", e.Message);
        e = Assert.ThrowsAny<Exception>(() => F.CumSum(q));
        Assert.Contains("cumsum", e.Message);
        e = Assert.Throws<ArgumentException>(() => BlockMask.Create(Cpu, new CausalMask(), 40, 24));
        Assert.Contains("blockSize must be a multiple of 16", e.Message);
    }
}
