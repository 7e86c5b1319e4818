namespace Speedrun.Kernels.Ops;

/// <summary>
/// Marks an ILGPU kernel method. The PTX test compiles every marked method for sm_90 without a GPU;
/// a generic kernel lists the type arguments it is used with, and each instantiation is compiled.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class KernelAttribute(params Type[] instantiations) : Attribute
{
    /// <summary>The type arguments a generic kernel is compiled with in the PTX test.</summary>
    public IReadOnlyList<Type> Instantiations { get; } = instantiations;
}
