using System.Reflection;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime.Cuda;
using Speedrun.Kernels.Ops;

namespace Speedrun.Kernels.Tests;

/// <summary>
/// Compiles every [Kernel] method of Speedrun.Kernels (each listed instantiation of a generic one) to PTX for
/// an H100 with ILGPU's offline PTX backend: no GPU needed, and an unsupported construct fails here instead
/// of on the GPU machine. Not assembled by ptxas; that only happens in the driver.
/// </summary>
public class PtxCompileTests
{
    /// <summary>Kernels in the assembly when this test was written; more may come, none may vanish.</summary>
    const int KernelsKnownNow = 38;

    static readonly Assembly KernelAssembly = typeof(KernelAttribute).Assembly;

    /// <summary>Every kernel to compile, by a readable unique name.</summary>
    static Dictionary<string, MethodInfo> Kernels()
    {
        var kernels = new Dictionary<string, MethodInfo>();
        const BindingFlags all = BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly;
        foreach (var type in KernelAssembly.GetTypes())
        foreach (var method in type.GetMethods(all))
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
        var method = Kernels()[kernel];
        // A fresh context per kernel: a failed compile leaves a context unusable for the next one.
        using var context = Context.Create(b => b.EnableAlgorithms().Optimize(OptimizationLevel.O1));
        using var backend = new PTXBackend(context, new CudaCapabilityContext(CudaArchitecture.SM_90),
            CudaArchitecture.SM_90, CudaInstructionSet.ISA_88, nvvmAPI: null);
        var compiled = (PTXCompiledKernel)backend.Compile(
            EntryPointDescription.FromExplicitlyGroupedKernel(method), new KernelSpecialization());
        Assert.Contains(".entry " + compiled.Name, compiled.PTXAssembly);
    }

    [Fact]
    public void NoKernelDroppedOutOfTheList()
    {
        var names = Kernels().Keys.ToList();
        Assert.True(names.Count >= KernelsKnownNow,
            $"Found {names.Count} [Kernel] methods, expected at least {KernelsKnownNow}: {string.Join(", ", names)}");
    }
}
