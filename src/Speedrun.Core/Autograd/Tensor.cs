using ILGPU;
using ILGPU.Runtime;
using Speedrun.Kernels.Device;
using Speedrun.Kernels.Numerics;

namespace Speedrun.Core.Autograd;

/// <summary>Element types a tensor can hold.</summary>
public enum DType
{
    F32,
    BF16,
    I32,
}

/// <summary>
/// A dense row-major tensor in device memory (pooled), with an optional gradient and, when it was produced
/// by a differentiable op while gradients were enabled, the node that produced it.
/// Tensors made inside a <see cref="TensorScope"/> are released when the scope ends.
/// </summary>
public sealed class Tensor : IDisposable
{
    readonly IDisposable _storage; // a PooledBuffer<T>
    readonly bool _ownsStorage;     // false for views made by View()
    bool _disposed;

    Tensor(Device device, int[] shape, DType dtype, IDisposable storage, bool ownsStorage = true, bool persistent = false)
    {
        Device = device;
        Shape = shape;
        DType = dtype;
        _storage = storage;
        _ownsStorage = ownsStorage;
        Length = ShapeLength(shape);
        if (!persistent) TensorScope.Track(this);
    }

    public Device Device { get; }
    public int[] Shape { get; }
    public DType DType { get; }
    public long Length { get; }

    /// <summary>A human-readable name (parameters carry theirs, e.g. "h.0.attn.c_attn.weight").</summary>
    public string? Name { get; set; }

    /// <summary>True for leaves whose gradient is kept (parameters) and for op outputs that depend on one.</summary>
    public bool RequiresGrad { get; internal set; }

    /// <summary>The gradient, same shape, fp32; for parameters it accumulates over micro-batches.</summary>
    public Tensor? Grad { get; internal set; }

    /// <summary>The op that produced this tensor (null for leaves and for tensors made without grad).</summary>
    internal Node? Creator { get; set; }

    public int Rank => Shape.Length;
    public int Dim(int i) => Shape[i < 0 ? Shape.Length + i : i];

    public ArrayView<float> F32 => DType == DType.F32
        ? ((PooledBuffer<float>)_storage).View
        : throw new InvalidOperationException($"Tensor {Describe()} is {DType}, not F32.");

    public ArrayView<BFloat16> BF16 => DType == DType.BF16
        ? ((PooledBuffer<BFloat16>)_storage).View
        : throw new InvalidOperationException($"Tensor {Describe()} is {DType}, not BF16.");

    public ArrayView<int> I32 => DType == DType.I32
        ? ((PooledBuffer<int>)_storage).View
        : throw new InvalidOperationException($"Tensor {Describe()} is {DType}, not I32.");

    /// <summary>Uninitialised tensor (contents undefined) from the device's pool.</summary>
    public static Tensor Empty(Device device, DType dtype, params int[] shape) => Create(device, dtype, shape, persistent: false);

    /// <summary>A tensor no scope owns (parameters, gradients, optimizer state): the caller disposes it.</summary>
    public static Tensor Persistent(Device device, DType dtype, params int[] shape) => Create(device, dtype, shape, persistent: true);

    static Tensor Create(Device device, DType dtype, int[] shape, bool persistent)
    {
        long n = ShapeLength(shape);
        IDisposable storage = dtype switch
        {
            DType.F32 => device.Pool.Rent<float>(n),
            DType.BF16 => device.Pool.Rent<BFloat16>(n),
            DType.I32 => device.Pool.Rent<int>(n),
            _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
        };
        return new Tensor(device, (int[])shape.Clone(), dtype, storage, persistent: persistent);
    }

    /// <summary>A trainable leaf: persistent, named, with a zeroed persistent gradient.</summary>
    public static Tensor Parameter(Device device, string name, float[] init, params int[] shape)
    {
        CheckLength(init.Length, shape);
        var p = Persistent(device, DType.F32, shape);
        p.F32.CopyFromCPU(device.Stream, init);
        p.Name = name;
        p.RequiresGrad = true;
        p.Grad = Persistent(device, DType.F32, shape);
        p.Grad.F32.MemSetToZero(device.Stream);
        p.Grad.Name = name + ".grad";
        p.IsLeaf = true;
        return p;
    }

    /// <summary>True for parameters: their gradient persists and accumulates.</summary>
    public bool IsLeaf { get; private set; }

    /// <summary>Sets the gradient to zero (start of a step).</summary>
    public void ZeroGrad() => Grad?.F32.MemSetToZero(Device.Stream);

    public static Tensor Empty(Device device, params int[] shape) => Empty(device, DType.F32, shape);

    public static Tensor Zeros(Device device, params int[] shape)
    {
        var t = Empty(device, DType.F32, shape);
        t.F32.MemSetToZero(device.Stream);
        return t;
    }

    public static Tensor FromArray(Device device, float[] data, params int[] shape)
    {
        CheckLength(data.Length, shape);
        var t = Empty(device, DType.F32, shape);
        t.F32.CopyFromCPU(device.Stream, data);
        return t;
    }

    public static Tensor FromArray(Device device, int[] data, params int[] shape)
    {
        CheckLength(data.Length, shape);
        var t = Empty(device, DType.I32, shape);
        t.I32.CopyFromCPU(device.Stream, data);
        t.HostInts = data;
        return t;
    }

    /// <summary>The host array an int tensor was uploaded from, if any (token ids: the embedding's
    /// backward groups positions by token on the host without reading the device).</summary>
    public int[]? HostInts { get; private set; }

    /// <summary>Copies the values to the host (waits for the device).</summary>
    public float[] ToArray()
    {
        var result = new float[Length];
        Device.Synchronize();
        F32.CopyToCPU(result);
        return result;
    }

    public int[] ToIntArray()
    {
        var result = new int[Length];
        Device.Synchronize();
        I32.CopyToCPU(result);
        return result;
    }

    /// <summary>The single value of a one-element tensor (waits for the device).</summary>
    public float Item()
    {
        if (Length != 1) throw new InvalidOperationException($"Item() needs a one-element tensor, got {Describe()}.");
        return ToArray()[0];
    }

    /// <summary>Same storage, new shape (no copy). The view shares the creator, so gradients flow.</summary>
    public Tensor View(params int[] shape)
    {
        CheckLength(Length, shape);
        return Functions.Reshape.Apply(this, shape);
    }

    internal Tensor AliasWithShape(int[] shape) => new(Device, (int[])shape.Clone(), DType, _storage, ownsStorage: false);

    public static Tensor operator +(Tensor a, Tensor b) => F.Add(a, b);
    public static Tensor operator *(Tensor x, float s) => F.Scale(x, s);
    public static Tensor operator *(float s, Tensor x) => F.Scale(x, s);

    public string Describe() => $"{Name ?? "tensor"}{ShapeText(Shape)} {DType}";

    public override string ToString() => Describe();

    public static string ShapeText(int[] shape) => "(" + string.Join(", ", shape) + ")";

    static long ShapeLength(int[] shape)
    {
        long n = 1;
        foreach (var d in shape)
        {
            if (d < 0) throw new ArgumentException($"Negative dimension in shape {ShapeText(shape)}.");
            n *= d;
        }
        return n;
    }

    static void CheckLength(long length, int[] shape)
    {
        if (ShapeLength(shape) != length)
            throw new ArgumentException($"Shape {ShapeText(shape)} holds {ShapeLength(shape)} elements, not {length}.");
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_ownsStorage) _storage.Dispose();
        Creator = null;
    }
}
