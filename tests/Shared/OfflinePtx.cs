using System.Reflection;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace Speedrun.Tests.Shared;

/// <summary>ILGPU's PTX backend without a GPU: a kernel method (a closed generic one included) compiled for an H100
/// (sm_90, PTX ISA 8.8), as the driver would receive it. Not assembled by ptxas.</summary>
static class OfflinePtx
{
    /// <summary>The PTX text of <paramref name="kernel"/>, with its entry point checked.</summary>
    public static string Compile(MethodInfo kernel)
    {
        // A fresh context per kernel: a failed compile leaves a context unusable for the next one.
        using var context = Context.Create(b => b.EnableAlgorithms().Optimize(OptimizationLevel.O1));
        using var backend = new PTXBackend(context, new CudaCapabilityContext(CudaArchitecture.SM_90),
            CudaArchitecture.SM_90, CudaInstructionSet.ISA_88, nvvmAPI: null);
        var compiled = (PTXCompiledKernel)backend.Compile(
            EntryPointDescription.FromExplicitlyGroupedKernel(kernel), new KernelSpecialization());
        if (!compiled.PTXAssembly.Contains(".entry " + compiled.Name))
            throw new InvalidOperationException($"{kernel.Name}: the PTX has no entry point {compiled.Name}");
        return compiled.PTXAssembly;
    }
}
