using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

namespace Speedrun.Kernels.Runtime;

/// <summary>
/// A caching allocator: freed buffers go back to a free list keyed by element size and rounded length,
/// so a training step allocates nothing once every shape it uses has been seen (warm-up).
/// Not thread-safe: one pool per device, used from the training thread. Reuse is safe without waiting
/// because every kernel and copy runs on the device's one stream, in order: a buffer returned while work
/// that uses it is still queued is only handed to work queued after it.
/// </summary>
public sealed class MemoryPool : IDisposable
{
    const long Granule = 64; // elements; lengths are rounded up to a multiple of this

    readonly Accelerator _accelerator;
    readonly Dictionary<(Type Element, long Length), Stack<MemoryBuffer>> _free = new();
    readonly List<MemoryBuffer> _all = new();

    internal MemoryPool(Accelerator accelerator) => _accelerator = accelerator;

    /// <summary>Device allocations made so far (cache misses).</summary>
    public long Allocations { get; private set; }
    /// <summary>Rent calls served from the cache.</summary>
    public long Hits { get; private set; }
    /// <summary>Bytes held by the pool, rented or free.</summary>
    public long BytesHeld { get; private set; }

    /// <summary>A buffer of at least <paramref name="length"/> elements; its View has exactly that length.
    /// Contents are undefined (not zeroed).</summary>
    public PooledBuffer<T> Rent<T>(long length) where T : unmanaged
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        int elementSize = Unsafe.SizeOf<T>();
        long rounded = Math.Max(Granule, (length + Granule - 1) / Granule * Granule);
        var key = (typeof(T), rounded); // by type: a buffer is typed (MemoryBuffer1D<T>) for its life
        MemoryBuffer raw;
        if (_free.TryGetValue(key, out var stack) && stack.Count > 0)
        {
            raw = stack.Pop();
            Hits++;
        }
        else
        {
            raw = _accelerator.Allocate1D<T>(rounded);
            _all.Add(raw);
            Allocations++;
            BytesHeld += rounded * elementSize;
        }
        return new PooledBuffer<T>(this, raw, key, length);
    }

    internal void Return((Type, long) key, MemoryBuffer buffer)
    {
        if (!_free.TryGetValue(key, out var stack)) _free[key] = stack = new Stack<MemoryBuffer>();
        stack.Push(buffer);
    }

    /// <summary>Frees every cached buffer that is not rented.</summary>
    public void Trim()
    {
        foreach (var stack in _free.Values)
            while (stack.Count > 0)
            {
                var b = stack.Pop();
                BytesHeld -= b.LengthInBytes;
                _all.Remove(b);
                b.Dispose();
            }
    }

    /// <summary>Whether <see cref="Dispose"/> has freed every buffer (the device is gone).</summary>
    public bool IsDisposed { get; private set; }

    /// <summary>Frees every buffer, rented or not.</summary>
    public void Dispose()
    {
        IsDisposed = true;
        foreach (var b in _all) b.Dispose();
        _all.Clear();
        _free.Clear();
    }
}

/// <summary>A rented device buffer; Dispose hands it back to its pool.</summary>
public sealed class PooledBuffer<T> : IDisposable where T : unmanaged
{
    readonly MemoryPool _pool;
    readonly (Type, long) _key;
    readonly ArrayView<T> _view;
    MemoryBuffer? _raw;

    internal PooledBuffer(MemoryPool pool, MemoryBuffer raw, (Type, long) key, long length)
    {
        _pool = pool;
        _raw = raw;
        _key = key;
        Length = length;
        _view = ((MemoryBuffer1D<T, Stride1D.Dense>)raw).View.SubView(0, length);
    }

    /// <summary>The length asked for (the buffer behind it may be longer).</summary>
    public long Length { get; }
    /// <summary>The rented elements. Refused once the buffer went back to its pool or the pool was freed: the
    /// memory then belongs to another tensor, or to nobody (reading it could crash the process).</summary>
    public ArrayView<T> View
    {
        get
        {
            if (_raw is null)
                throw new ObjectDisposedException(nameof(PooledBuffer<T>), "This tensor's memory was already handed back (the tensor or the scope that owns it was disposed).");
            if (_pool.IsDisposed)
                throw new ObjectDisposedException(nameof(PooledBuffer<T>), "The device that owns this tensor was disposed.");
            return _view;
        }
    }

    /// <summary>Returns the buffer to its pool.</summary>
    public void Dispose()
    {
        if (_raw is null) return;
        _pool.Return(_key, _raw);
        _raw = null;
    }
}
