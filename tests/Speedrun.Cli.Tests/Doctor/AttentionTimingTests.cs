using System.Reflection;
using Speedrun.Cli.Doctor;
using Speedrun.Core.Autograd;
using Speedrun.Kernels.Ops;
using Speedrun.Kernels.Runtime;

namespace Speedrun.Cli.Tests.Doctor;

/// <summary>
/// The doctor's attention section on the CPU device (its small shapes): every case runs, its numbers are sane,
/// and the masks it builds are what the torch script builds (same documents, same semantics) with the density
/// ordering the masks imply. The GPU machine runs the same code at the records' sizes.
/// </summary>
public class AttentionTimingTests
{
    [Fact]
    public void TheCpuSectionTimesEveryCaseWithSaneNumbers()
    {
        using var cpu = Device.Create(DeviceKind.Cpu);
        var report = new DoctorReport();
        var log = new StringWriter();
        AttentionTiming.Run(cpu, shardPath: null, report, log);
        Assert.True(report.Errors.Count == 0, string.Join("\n", report.Errors) + "\n" + log);
        Assert.Equal(AttentionTiming.Cases(fullSize: false).Select(c => c.Name), report.Attention.Select(a => a.Name));
        Assert.All(report.Attention, a =>
        {
            Assert.Null(a.Error);
            Assert.NotNull(a.Ms);
            Assert.True(a.Ms > 0 && double.IsFinite(a.Ms!.Value), $"{a.Name}: {a.Ms} ms");
            Assert.InRange(a.Density, double.Epsilon, 1.0);
            Assert.Equal("fp32", a.Dtype);
        });
        var flex = report.Attention.Where(a => a.Window is not null).ToList();
        Assert.Equal(2, flex.Count);
        Assert.All(flex, a =>
        {
            Assert.True(a.Documents >= 1);
            Assert.True(a.MaskBuildMs > 0 && a.BlocksBuildMs > 0);
            Assert.True(a.BlocksDensity >= a.Density, "a per-block build may only keep more pairs");
        });
        Assert.True(flex[0].Density < flex[1].Density, "the shorter window keeps fewer block pairs");
        Assert.Contains(report.Notes, n => n.StartsWith("attention:") && n.Contains("small"));

        var md = report.ToMarkdown();
        Assert.Contains("## Attention forward + backward", md);
        Assert.Contains("| sdpa causal B1 H12 T256 D64 | - | 0.7500 |", md);
    }

    [Fact]
    public void TheCudaCasesAreTheScriptsShapes()
    {
        var names = AttentionTiming.Cases(fullSize: true).Select(c => c.Name).ToArray();
        Assert.Equal(new[]
        {
            "sdpa causal B64 H12 T1024 D64", "sdpa causal B64 H6 T1024 D128",
            "flex causal+document+window1024 B1 H6 T65536 D128", "flex causal+document+window1792 B1 H6 T65536 D128",
        }, names);
        // The torch script must produce the same names, or summarize.py pairs nothing.
        var script = File.ReadAllText(Path.Combine(RepoRoot(), "bench", "pytorch", "attention_bench.py"));
        Assert.Contains("f\"sdpa causal B{batch} H{h} T{t} D{d}\"", script);
        Assert.Contains("f\"flex causal+document+window{window} B1 H{h} T{t} D{d}\"", script);
    }

    [Fact]
    public void DocumentIdsCountEndOfTextTokensUpToAndIncludingEachPosition()
    {
        int eot = AttentionTiming.EndOfText;
        Assert.Equal(new[] { 0, 1, 1, 1, 2, 3, 3 }, AttentionTiming.DocumentIds(new[] { 5, eot, 7, 8, eot, eot, 9 }));
        var tokens = AttentionTiming.StreamTokens(null, 2048, out var source);
        Assert.Contains("synthetic", source);
        Assert.Contains(eot, tokens);
    }

    [Fact]
    public void TheDocumentWindowMaskIsCausalWithinADocumentAndTheWindow()
    {
        using var cpu = Device.Create(DeviceKind.Cpu);
        using var scope = new TensorScope();
        int[] docs = [0, 0, 0, 0, 1, 1, 1, 1, 1, 1];
        var masks = DocumentWindowMasks.Build(cpu, docs, window: 3, blockSize: 16);
        for (int q = 0; q < docs.Length; q++)
            for (int k = 0; k < docs.Length; k++)
            {
                bool expected = k <= q && q - k < 3 && docs[q] == docs[k];
                Assert.True(expected == masks.Elements.Visible(q, k), $"q={q} k={k}");
            }
    }

    [Fact]
    public void WindowMasksAreSparserThanCausalAndThePerBlockBuildAgreesWithTheElements()
    {
        using var cpu = Device.Create(DeviceKind.Cpu);
        using var scope = new TensorScope();
        const int length = 2048;
        var docs = AttentionTiming.DocumentIds(AttentionTiming.StreamTokens(null, length, out _));
        double causal = BlockMask.Causal(cpu, length).Density();
        Assert.Equal(136.0 / 256, causal, 6); // 16 blocks: the lower triangle with its diagonal
        double previous = 0;
        foreach (int window in new[] { 128, 256, 448, 1024 })
        {
            var masks = DocumentWindowMasks.Build(cpu, docs, window);
            var elements = BlockMask.Create(cpu, masks.Elements, length);
            var blocks = BlockMask.FromBlocks(cpu, masks.Elements, masks.Blocks, length);
            double density = elements.Density();
            Assert.InRange(density, double.Epsilon, 1.0);
            Assert.True(density < causal, $"window {window}: {density} not below causal {causal}");
            Assert.True(density >= previous, $"window {window}: {density} below a shorter window's {previous}");
            previous = density;
            Assert.Null(AttentionTiming.CompareKinds(elements.Kinds(), blocks.Kinds()));
            Assert.True(blocks.Density() >= density);
        }

        // One document and no window: the per-block build is exact, and equals the causal mask.
        var single = DocumentWindowMasks.Build(cpu, new int[length], int.MaxValue);
        var exact = BlockMask.FromBlocks(cpu, single.Elements, single.Blocks, length);
        Assert.Equal(BlockMask.Causal(cpu, length).Kinds(), exact.Kinds());
        Assert.Equal(BlockMask.Create(cpu, single.Elements, length).Kinds(), exact.Kinds());
    }

    /// <summary>Every generic kernel of the engine that takes a mask (IMaskMod) or a block mask (IBlockMaskMod),
    /// instantiated with the doctor's structs (views inside a struct argument), for the GPU machine's sm_90.</summary>
    public static TheoryData<string> MaskKernels() => new(MaskKernelMethods().Keys.Order());

    static Dictionary<string, MethodInfo> MaskKernelMethods()
    {
        var kernels = new Dictionary<string, MethodInfo>();
        foreach (var type in typeof(KernelAttribute).Assembly.GetTypes())
        foreach (var method in type.GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
        {
            if (method.GetCustomAttribute<KernelAttribute>() is null || !method.IsGenericMethodDefinition) continue;
            var parameters = method.GetGenericArguments();
            if (parameters.Length != 1) continue;
            var constraints = parameters[0].GetGenericParameterConstraints();
            Type? argument = constraints.Contains(typeof(IMaskMod)) ? typeof(DocumentWindowMask)
                : constraints.Contains(typeof(IBlockMaskMod)) ? typeof(DocumentWindowBlocks) : null;
            if (argument is not null) kernels.Add($"{type.Name}.{method.Name}<{argument.Name}>", method.MakeGenericMethod(argument));
        }
        return kernels;
    }

    [Theory, MemberData(nameof(MaskKernels))]
    public void TheMaskStructsCompileToPtxInEveryMaskKernel(string kernel)
    {
        Assert.Contains(".entry ", Speedrun.Tests.Shared.OfflinePtx.Compile(MaskKernelMethods()[kernel]));
    }

    [Fact]
    public void BothMaskBuildsAndTheAttentionKernelsTakeTheStructs()
    {
        var names = MaskKernelMethods().Keys.ToList();
        Assert.Contains(names, n => n.StartsWith("BlockMaskKernelMethods.ClassifyElementsKernel<DocumentWindowMask>"));
        Assert.Contains(names, n => n.StartsWith("BlockMaskKernelMethods.ClassifyBlocksKernel<DocumentWindowBlocks>"));
        Assert.Contains(names, n => n.StartsWith("FlashAttentionKernelMethods."));
    }

    static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "bench", "pytorch", "attention_bench.py")))
            dir = dir.Parent;
        return dir?.FullName ?? throw new DirectoryNotFoundException("the repository root (bench/pytorch) above " + AppContext.BaseDirectory);
    }
}
