namespace Speedrun.Core.Autograd;

/// <summary>Precision of matrix products.</summary>
public enum MatmulPrecision
{
    /// <summary>fp32 operands and accumulation.</summary>
    F32,
    /// <summary>Operands rounded to bf16, fp32 accumulation and output (PyTorch bf16 autocast for matmuls).</summary>
    BF16,
}

/// <summary>
/// The matmul precision in force on this thread, set by a scope like PyTorch's torch.autocast. Only
/// matmuls change; every other op stays fp32, which is what records 1-9 do under autocast.
/// </summary>
public static class Autocast
{
    [ThreadStatic] static MatmulPrecision? _current;

    /// <summary>The precision in force (F32 outside any scope).</summary>
    public static MatmulPrecision Current => _current ?? MatmulPrecision.F32;

    /// <summary>Sets the precision until the returned scope is disposed.</summary>
    public static IDisposable Use(MatmulPrecision precision)
    {
        var previous = _current;
        _current = precision;
        return new Restore(previous);
    }

    sealed class Restore(MatmulPrecision? previous) : IDisposable
    {
        public void Dispose() => _current = previous;
    }
}
