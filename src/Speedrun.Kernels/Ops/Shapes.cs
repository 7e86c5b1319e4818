using ILGPU;

namespace Speedrun.Kernels.Ops;

/// <summary>Argument checks shared by the kernel launchers: wrong shapes throw before any launch.</summary>
public static class Shapes
{
    /// <summary>Throws an ArgumentException naming the op and both views unless they have the same length.</summary>
    public static void SameLength<TA, TB>(string op, ArrayView<TA> a, ArrayView<TB> b,
        [System.Runtime.CompilerServices.CallerArgumentExpression(nameof(a))] string nameA = "a",
        [System.Runtime.CompilerServices.CallerArgumentExpression(nameof(b))] string nameB = "b")
        where TA : unmanaged where TB : unmanaged
    {
        if (a.Length != b.Length)
            throw new ArgumentException($"{op}: {nameA} has {a.Length} elements but {nameB} has {b.Length}; they must match.");
    }

    /// <summary>Checks that a view holds exactly the product of the named dimensions.</summary>
    public static void Expect<T>(string op, ArrayView<T> view, string name, params (string Dim, long Size)[] dims)
        where T : unmanaged
    {
        long expected = 1;
        foreach (var (_, size) in dims)
        {
            if (size < 0) throw new ArgumentException($"{op}: negative dimension in {Format(dims)} for {name}.");
            expected *= size;
        }
        if (view.Length != expected)
            throw new ArgumentException(
                $"{op}: {name} has {view.Length} elements but shape {Format(dims)} needs {expected}.");
        if (expected > int.MaxValue)
            throw new ArgumentException($"{op}: {name} shape {Format(dims)} exceeds 2^31 elements (32-bit indexing).");
    }

    static string Format((string Dim, long Size)[] dims) =>
        "(" + string.Join(", ", dims.Select(d => $"{d.Dim}={d.Size}")) + ")";
}
