using System.Reflection;
using Speedrun.Kernels.Ops;

namespace Speedrun.Kernels.Tests;

/// <summary>
/// Compiles every [Kernel] method of Speedrun.Kernels (each listed instantiation of a generic one) to PTX for
/// an H100 with ILGPU's offline PTX backend: no GPU needed, and an unsupported construct fails here instead
/// of on the GPU machine. Not assembled by ptxas; that only happens in the driver. The kernel families are
/// internal classes, so the search covers non-public types and methods.
/// </summary>
public class PtxCompileTests
{
    /// <summary>The 79 kernels in the assembly when this list was last updated (flash attention replaced the
    /// materialising softmax kernels; block-mask builds and int ops came with it); more may come, none may vanish.</summary>
    static readonly string[] KnownKernels =
    [
        "ActivationKernelMethods.BackwardKernel<Exp>", "ActivationKernelMethods.BackwardKernel<GeluErf>",
        "ActivationKernelMethods.BackwardKernel<GeluTanh>", "ActivationKernelMethods.BackwardKernel<Relu>",
        "ActivationKernelMethods.BackwardKernel<Sigmoid>", "ActivationKernelMethods.BackwardKernel<Sqrt>",
        "ActivationKernelMethods.BackwardKernel<Square>", "ActivationKernelMethods.BackwardKernel<Tanh>",
        "ActivationKernelMethods.ForwardKernel<Exp>", "ActivationKernelMethods.ForwardKernel<GeluErf>",
        "ActivationKernelMethods.ForwardKernel<GeluTanh>", "ActivationKernelMethods.ForwardKernel<Relu>",
        "ActivationKernelMethods.ForwardKernel<Sigmoid>", "ActivationKernelMethods.ForwardKernel<Sqrt>",
        "ActivationKernelMethods.ForwardKernel<Square>", "ActivationKernelMethods.ForwardKernel<Tanh>",
        "AdamWKernelMethods.StepKernel",
        "ArithmeticKernelMethods.AffineKernel", "ArithmeticKernelMethods.BroadcastKernel<AddOp>",
        "ArithmeticKernelMethods.BroadcastKernel<DivGradDenominatorOp>",
        "ArithmeticKernelMethods.BroadcastKernel<DivOp>", "ArithmeticKernelMethods.BroadcastKernel<MulOp>",
        "ArithmeticKernelMethods.BroadcastKernel<SubOp>", "ArithmeticKernelMethods.LerpKernel",
        "ArithmeticKernelMethods.SameLengthKernel<AddOp>",
        "ArithmeticKernelMethods.SameLengthKernel<DivGradDenominatorOp>",
        "ArithmeticKernelMethods.SameLengthKernel<DivOp>", "ArithmeticKernelMethods.SameLengthKernel<MulOp>",
        "ArithmeticKernelMethods.SameLengthKernel<SubOp>",
        "BlockMaskKernelMethods.ClassifyBlocksKernel<CausalBlocks>", "BlockMaskKernelMethods.ClassifyBlocksKernel<FullBlocks>",
        "BlockMaskKernelMethods.ClassifyElementsKernel<CausalMask>", "BlockMaskKernelMethods.ClassifyElementsKernel<FullMask>",
        "BlockMaskKernelMethods.ListsKernel",
        "IntegerKernelMethods.EqualKernel", "IntegerKernelMethods.PieceSumsKernel", "IntegerKernelMethods.ScanPiecesKernel",
        "ColumnSumKernelMethods.ChunkSumsKernel", "ColumnSumKernelMethods.SumChunksKernel",
        "CrossEntropyKernelMethods.ForwardBackwardKernel", "CrossEntropyKernelMethods.ForwardKernel",
        "ElementwiseKernelMethods.AccumulateKernel", "ElementwiseKernelMethods.AddKernel",
        "ElementwiseKernelMethods.CopyKernel", "ElementwiseKernelMethods.FillKernel",
        "ElementwiseKernelMethods.ScaleKernel", "ElementwiseKernelMethods.ToBFloat16Kernel",
        "ElementwiseKernelMethods.ToFloat32Kernel",
        "Float8KernelMethods.ToE4M3Kernel", "Float8KernelMethods.ToE5M2Kernel",
        "Float8KernelMethods.FromE4M3Kernel", "Float8KernelMethods.FromE5M2Kernel",
        "EmbeddingKernelMethods.ForwardKernel", "EmbeddingKernelMethods.PositionBackwardKernel",
        "EmbeddingKernelMethods.TokenBackwardKernel",
        "FlashAttentionKernelMethods.DeltaKernel",
        "FlashAttentionKernelMethods.ForwardFp32Kernel<CausalMask>", "FlashAttentionKernelMethods.ForwardFp32Kernel<FullMask>",
        "FlashAttentionKernelMethods.KeyValueGradFp32Kernel<CausalMask>", "FlashAttentionKernelMethods.KeyValueGradFp32Kernel<FullMask>",
        "FlashAttentionKernelMethods.QueryGradFp32Kernel<CausalMask>", "FlashAttentionKernelMethods.QueryGradFp32Kernel<FullMask>",
        "FlashAttentionKernelMethods.ForwardMmaKernel<CausalMask>", "FlashAttentionKernelMethods.ForwardMmaKernel<FullMask>",
        "FlashAttentionKernelMethods.KeyValueGradMmaKernel<CausalMask>", "FlashAttentionKernelMethods.KeyValueGradMmaKernel<FullMask>",
        "FlashAttentionKernelMethods.QueryGradMmaKernel<CausalMask>", "FlashAttentionKernelMethods.QueryGradMmaKernel<FullMask>",
        "GradNormKernelMethods.ClipScaleKernel", "GradNormKernelMethods.CombineKernel",
        "LayerNormKernelMethods.BackwardKernel", "LayerNormKernelMethods.ForwardKernel",
        "LayerNormKernelMethods.WeightGradChunksKernel",
        "LayoutKernelMethods.CopyColumnsKernel", "LayoutKernelMethods.RepeatKernel",
        "LayoutKernelMethods.RowSumsKernel", "LayoutKernelMethods.TransposeKernel",
        "ReductionKernelMethods.StridedPartialSumsKernel", "ReductionKernelMethods.TreeSumKernel",
        "RmsNormKernelMethods.BackwardKernel", "RmsNormKernelMethods.ForwardKernel",
        "SoftmaxKernelMethods.BackwardKernel", "SoftmaxKernelMethods.ForwardKernel",
    ];

    static readonly Assembly KernelAssembly = typeof(KernelAttribute).Assembly;

    const BindingFlags AllStatic = BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly;

    /// <summary>Every kernel to compile, by a readable unique name ("Class.Method&lt;TypeArgument&gt;").</summary>
    static Dictionary<string, MethodInfo> Kernels()
    {
        var kernels = new Dictionary<string, MethodInfo>();
        foreach (var type in KernelAssembly.GetTypes())
        foreach (var method in type.GetMethods(AllStatic))
        {
            var attribute = method.GetCustomAttribute<KernelAttribute>();
            if (attribute is null) continue;
            string name = $"{type.Name}.{method.Name}";
            if (!method.IsGenericMethodDefinition)
            {
                kernels.Add(name, method);
                continue;
            }
            int arity = method.GetGenericArguments().Length;
            var types = attribute.Instantiations;
            Assert.True(types.Count > 0 && types.Count % arity == 0,
                $"{name} is generic with {arity} type parameters; [Kernel(...)] must list its instantiations, {arity} types each");
            for (int i = 0; i < types.Count; i += arity)
            {
                var args = types.Skip(i).Take(arity).ToArray();
                kernels.Add($"{name}<{string.Join(", ", args.Select(a => a.Name))}>", method.MakeGenericMethod(args));
            }
        }
        return kernels;
    }

    public static TheoryData<string> KernelNames() => new(Kernels().Keys.Order());

    [Theory, MemberData(nameof(KernelNames))]
    public void CompilesToPtxForSm90(string kernel)
    {
        Assert.Contains(".entry ", Speedrun.Tests.Shared.OfflinePtx.Compile(Kernels()[kernel]));
    }

    [Fact]
    public void NoKnownKernelDroppedOutOfTheList()
    {
        var found = Kernels();
        var missing = KnownKernels.Where(k => !found.ContainsKey(k)).ToList();
        Assert.True(missing.Count == 0,
            $"Not found as [Kernel] methods: {string.Join(", ", missing)}. Found {found.Count}: {string.Join(", ", found.Keys.Order())}");
        Assert.Equal(KnownKernels.Length, KnownKernels.Distinct().Count());
        // The families are internal: the search must reach non-public types.
        Assert.Contains(found.Values, m => !m.DeclaringType!.IsPublic && !m.DeclaringType.IsNestedPublic);
    }

    /// <summary>A kernel method without [Kernel] would silently miss this compile check: every static method
    /// named "...Kernel" that takes an ArrayView must carry the attribute.</summary>
    [Fact]
    public void EveryKernelMethodIsMarked()
    {
        var unmarked = KernelAssembly.GetTypes()
            .SelectMany(t => t.GetMethods(AllStatic))
            .Where(m => m.Name.EndsWith("Kernel", StringComparison.Ordinal)
                        && m.GetParameters().Any(p => p.ParameterType.IsGenericType
                                                      && p.ParameterType.GetGenericTypeDefinition() == typeof(ArrayView<>))
                        && m.GetCustomAttribute<KernelAttribute>() is null)
            .Select(m => $"{m.DeclaringType!.Name}.{m.Name}")
            .ToList();
        Assert.True(unmarked.Count == 0, $"Kernel methods without [Kernel]: {string.Join(", ", unmarked)}");
    }
}
