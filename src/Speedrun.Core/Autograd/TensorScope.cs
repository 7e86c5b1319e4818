namespace Speedrun.Core.Autograd;

/// <summary>
/// Owns the tensors created while it is the innermost open scope on this thread and releases them (back
/// to the device's pool) when disposed: one scope per micro-step keeps a training loop allocation-free.
/// Tensors made outside any scope (parameters, optimizer state) live until disposed explicitly.
/// Thread-local, like PyTorch's grad mode and TorchSharp's dispose scopes.
/// </summary>
public sealed class TensorScope : IDisposable
{
    [ThreadStatic] static Stack<TensorScope>? _open;
    readonly List<Tensor> _owned = new();
    bool _disposed;

    /// <summary>Opens a scope: it owns the tensors made until it is disposed (or an inner scope opens).</summary>
    public TensorScope()
    {
        (_open ??= new Stack<TensorScope>()).Push(this);
    }

    internal static void Track(Tensor t)
    {
        if (_open is { Count: > 0 }) _open.Peek()._owned.Add(t);
    }

    /// <summary>Moves a tensor out of this scope so it survives it (owned by the enclosing scope, or by nobody).</summary>
    public Tensor Keep(Tensor t)
    {
        if (_owned.Remove(t) && _open is { Count: > 1 })
        {
            var outer = _open.ElementAt(1);
            outer._owned.Add(t);
        }
        return t;
    }

    /// <summary>Releases the tensors this scope owns.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_open is null || _open.Count == 0 || !ReferenceEquals(_open.Peek(), this))
            throw new InvalidOperationException("TensorScopes must be disposed in reverse order of creation.");
        _open.Pop();
        for (int i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose();
        _owned.Clear();
    }
}
