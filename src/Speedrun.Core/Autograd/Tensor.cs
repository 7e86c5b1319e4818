using ILGPU;
using ILGPU.Runtime;
using Speedrun.Kernels.Runtime;
using Speedrun.Kernels.Numerics;

namespace Speedrun.Core.Autograd;

/// <summary>Element types a tensor can hold.</summary>
public enum DType
{
    /// <summary>32-bit float: parameters, activations, gradients.</summary>
    F32,
    /// <summary>bfloat16 (raw bits, see <see cref="BFloat16"/>).</summary>
    BF16,
    /// <summary>32-bit integer: token ids and targets.</summary>
    I32,
    /// <summary>8-bit float, OCP E4M3 (torch.float8_e4m3fn: max 448, no infinity), one raw byte per element
    /// (<see cref="Tensor.F8"/>; see <see cref="Float8"/>). Made by <see cref="F.ToFloat8"/>, read by
    /// <see cref="F.FromFloat8"/> and <see cref="F.ScaledMatmul(Tensor, Tensor, Tensor, Tensor, bool)"/>.</summary>
    F8E4M3,
    /// <summary>8-bit float, OCP E5M2 (torch.float8_e5m2: max 57344, with infinities), one raw byte per element.</summary>
    F8E5M2,
}

/// <summary>
/// A dense row-major tensor in device memory (pooled), like torch.Tensor: a shape, a dtype, an optional
/// gradient and, when a differentiable op made it while gradients were recorded, the
/// <see cref="Function"/> that made it (<see cref="GradFn"/>).
/// Tensors made inside a <see cref="TensorScope"/> are released when the scope ends; parameters and optimizer
/// state are made with <see cref="Persistent"/> or <see cref="Parameter"/> and disposed by their owner.
/// Views (<see cref="View"/>, <see cref="Narrow"/> on the first dim) share storage; every other op writes a new
/// tensor. Methods named with a trailing underscore (<see cref="Add_(Tensor, float)"/>, ...) change the tensor
/// in place and record nothing: optimizers call them under <see cref="GradMode.NoGrad"/>.
/// </summary>
public sealed class Tensor : IDisposable
{
    readonly IDisposable _storage; // a PooledBuffer<T>
    readonly long _offset;          // elements into the storage (row slices)
    readonly bool _ownsStorage;     // false for views
    readonly bool _persistent;
    bool _ownsGrad;
    bool _disposed;
    Tensor? _grad;

    Tensor(Device device, int[] shape, DType dtype, IDisposable storage, long offset, bool ownsStorage, bool persistent)
    {
        Device = device;
        Shape = shape;
        DType = dtype;
        _storage = storage;
        _offset = offset;
        _ownsStorage = ownsStorage;
        _persistent = persistent;
        Length = ShapeLength(shape);
        if (!persistent) TensorScope.Track(this);
    }

    /// <summary>The device whose memory holds the values.</summary>
    public Device Device { get; }
    /// <summary>The size of each dimension, outermost first.</summary>
    public int[] Shape { get; }
    /// <summary>The element type.</summary>
    public DType DType { get; }
    /// <summary>The number of elements.</summary>
    public long Length { get; }

    /// <summary>A human-readable name (parameters carry theirs, e.g. "h.0.attn.c_attn.weight").</summary>
    public string? Name { get; set; }

    /// <summary>
    /// Whether gradients flow to this tensor. Op outputs get it from their inputs. On a leaf (a tensor no
    /// recorded op made) setting it to true makes the tensor a trainable leaf: it gets a zero-filled
    /// <see cref="Grad"/> that every backward pass accumulates into, as parameters have.
    /// </summary>
    public bool RequiresGrad
    {
        get => _requiresGrad;
        set
        {
            if (GradFn is not null)
                throw new InvalidOperationException(
                    $"{Describe()} was made by {GradFn.Name}; only leaves (tensors no recorded op made) can change RequiresGrad. Use Detach() for a copy without a graph.");
            if (value == _requiresGrad) return;
            if (DType != DType.F32) throw new InvalidOperationException($"{Describe()}: only F32 tensors can require gradients.");
            _requiresGrad = value;
            IsLeaf = value;
            if (value && _grad is null)
            {
                _grad = _persistent ? Persistent(Device, DType.F32, Shape) : Empty(Device, DType.F32, Shape);
                _grad.F32.MemSetToZero(Device.Stream);
                _grad.Name = Name is null ? null : Name + ".grad";
                _ownsGrad = true;
            }
        }
    }
    bool _requiresGrad;

    internal void MarkRequiresGrad() => _requiresGrad = true;

    /// <summary>
    /// The gradient: same shape, F32. For leaves (<see cref="IsLeaf"/>) it accumulates over backward passes
    /// until <see cref="ZeroGrad"/>; for op outputs it exists only while backward passes through them.
    /// Optimizers read it and may rewrite it in place.
    /// </summary>
    public Tensor? Grad
    {
        get => _grad;
        set
        {
            if (value is not null && (!value.Shape.SequenceEqual(Shape) || value.DType != DType.F32))
                throw new ArgumentException($"Grad of {Describe()} must be F32 of the same shape, got {value.Describe()}.");
            _grad = value;
        }
    }

    /// <summary>The op that produced this tensor (null for leaves, for tensors made without a graph, and
    /// after backward has passed through it): torch's grad_fn.</summary>
    public Function? GradFn { get; internal set; }

    /// <summary>True for trainable leaves (parameters, or any leaf with RequiresGrad set): their
    /// <see cref="Grad"/> is a buffer that backward accumulates into.</summary>
    public bool IsLeaf { get; private set; }

    /// <summary>The number of dimensions.</summary>
    public int Rank => Shape.Length;

    /// <summary>The size of dimension <paramref name="i"/> (negative counts from the end, as in PyTorch).</summary>
    public int Dim(int i) => Shape[i < 0 ? Shape.Length + i : i];

    /// <summary>The values as a device view (F32 tensors), for kernels.</summary>
    public ArrayView<float> F32 => DType == DType.F32
        ? ((PooledBuffer<float>)_storage).View.SubView(_offset, Length)
        : throw new InvalidOperationException($"Tensor {Describe()} is {DType}, not F32.");

    /// <summary>The values as a device view (BF16 tensors).</summary>
    public ArrayView<BFloat16> BF16 => DType == DType.BF16
        ? ((PooledBuffer<BFloat16>)_storage).View.SubView(_offset, Length)
        : throw new InvalidOperationException($"Tensor {Describe()} is {DType}, not BF16.");

    /// <summary>The raw fp8 codes as a device view (F8E4M3 and F8E5M2 tensors; decode with <see cref="Float8"/>).</summary>
    public ArrayView<byte> F8 => DType is DType.F8E4M3 or DType.F8E5M2
        ? ((PooledBuffer<byte>)_storage).View.SubView(_offset, Length)
        : throw new InvalidOperationException($"Tensor {Describe()} is {DType}, not F8E4M3 or F8E5M2.");

    /// <summary>The values as a device view (I32 tensors).</summary>
    public ArrayView<int> I32 => DType == DType.I32
        ? ((PooledBuffer<int>)_storage).View.SubView(_offset, Length)
        : throw new InvalidOperationException($"Tensor {Describe()} is {DType}, not I32.");

    /// <summary>Uninitialised tensor (contents undefined) from the device's pool, owned by the current scope.</summary>
    public static Tensor Empty(Device device, DType dtype, params int[] shape) => Create(device, dtype, shape, persistent: false);

    /// <summary>Uninitialised F32 tensor owned by the current scope.</summary>
    public static Tensor Empty(Device device, params int[] shape) => Empty(device, DType.F32, shape);

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
            DType.F8E4M3 or DType.F8E5M2 => device.Pool.Rent<byte>(n),
            _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
        };
        return new Tensor(device, (int[])shape.Clone(), dtype, storage, 0, ownsStorage: true, persistent: persistent);
    }

    /// <summary>A trainable leaf (torch's nn.Parameter): persistent, named, with a zeroed persistent gradient.</summary>
    public static Tensor Parameter(Device device, string name, float[] init, params int[] shape)
    {
        CheckLength(init.Length, shape);
        var p = Persistent(device, DType.F32, shape);
        p.F32.CopyFromCPU(device.Stream, init);
        p.Name = name;
        p.RequiresGrad = true;
        return p;
    }

    /// <summary>Sets the gradient to zero (start of a step).</summary>
    public void ZeroGrad() => Grad?.F32.MemSetToZero(Device.Stream);

    /// <summary>A zero-filled F32 tensor owned by the current scope.</summary>
    public static Tensor Zeros(Device device, params int[] shape)
    {
        var t = Empty(device, DType.F32, shape);
        t.F32.MemSetToZero(device.Stream);
        return t;
    }

    /// <summary>An F32 tensor filled with <paramref name="value"/>, owned by the current scope.</summary>
    public static Tensor Full(Device device, float value, params int[] shape) => Empty(device, shape).Fill_(value);

    /// <summary>Uploads host values (row-major) into a new F32 tensor owned by the current scope.</summary>
    public static Tensor FromArray(Device device, float[] data, params int[] shape)
    {
        CheckLength(data.Length, shape);
        var t = Empty(device, DType.F32, shape);
        t.F32.CopyFromCPU(device.Stream, data);
        return t;
    }

    /// <summary>Uploads host ints (token ids, targets) into a new I32 tensor owned by the current scope.</summary>
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

    /// <summary>Copies the F32 values from <paramref name="start"/> on into <paramref name="destination"/>, as many as it
    /// holds (waits for the device): a large tensor read a part at a time through one buffer, never copied whole.</summary>
    public void CopyTo(Span<float> destination, long start = 0)
    {
        if (start < 0 || start + destination.Length > Length)
            throw new ArgumentOutOfRangeException(nameof(start),
                $"values [{start}, {start + destination.Length}) of {Describe()}: the range must lie within its {Length} values.");
        if (destination.IsEmpty) return;
        Device.Synchronize();
        F32.SubView(start, destination.Length).CopyToCPU(destination);
    }

    /// <summary>Copies the int values to the host (waits for the device).</summary>
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

    // ---- views: same storage, no copy ----

    /// <summary>Same storage, new shape (no copy); one dimension may be -1 (inferred). Gradients flow through it.</summary>
    public Tensor View(params int[] shape)
    {
        shape = InferShape(shape);
        CheckLength(Length, shape);
        return Functions.Reshape.Apply(this, shape);
    }

    /// <summary>Same as <see cref="View"/> (every tensor here is contiguous).</summary>
    public Tensor Reshape(params int[] shape) => View(shape);

    /// <summary>The same values without a graph: gradients do not flow into the result (torch's detach).</summary>
    public Tensor Detach() => Alias(0, Shape);

    /// <summary>A tensor over part of this one's storage (engine use: views and row slices).</summary>
    internal Tensor Alias(long offset, int[] shape) =>
        new(Device, (int[])shape.Clone(), DType, _storage, _offset + offset, ownsStorage: false, persistent: false);

    internal Tensor AliasWithShape(int[] shape) => Alias(0, shape);

    int[] InferShape(int[] shape)
    {
        int unknown = Array.IndexOf(shape, -1);
        if (unknown < 0) return shape;
        long known = 1;
        for (int i = 0; i < shape.Length; i++)
            if (i != unknown) known *= shape[i];
        if (known == 0 || Length % known != 0)
            throw new ArgumentException($"Cannot view {Describe()} as {ShapeText(shape)}.");
        var result = (int[])shape.Clone();
        result[unknown] = (int)(Length / known);
        return result;
    }

    // ---- the functional ops as methods, as torch offers both ----

    /// <summary><see cref="F.Transpose"/>: a copy with two dimensions swapped.</summary>
    public Tensor Transpose(int dim0, int dim1) => F.Transpose(this, dim0, dim1);
    /// <summary><see cref="F.Narrow"/>: elements start..start+length-1 of one dimension.</summary>
    public Tensor Narrow(int dim, int start, int length) => F.Narrow(this, dim, start, length);
    /// <summary><see cref="F.Split"/>: consecutive pieces of the given sizes along a dimension.</summary>
    public Tensor[] Split(int[] sizes, int dim = -1) => F.Split(this, sizes, dim);
    /// <summary><see cref="F.Chunk"/>: <paramref name="chunks"/> equal pieces along a dimension.</summary>
    public Tensor[] Chunk(int chunks, int dim = -1) => F.Chunk(this, chunks, dim);
    /// <summary><see cref="F.Matmul"/>.</summary>
    public Tensor Matmul(Tensor other) => F.Matmul(this, other);
    /// <summary><see cref="F.Sum(Tensor)"/>: the sum of all elements, shape (1).</summary>
    public Tensor Sum() => F.Sum(this);
    /// <summary><see cref="F.Sum(Tensor, int, bool)"/>.</summary>
    public Tensor Sum(int dim, bool keepDim = false) => F.Sum(this, dim, keepDim);
    /// <summary><see cref="F.Mean(Tensor)"/>: the mean of all elements, shape (1).</summary>
    public Tensor Mean() => F.Mean(this);
    /// <summary><see cref="F.Mean(Tensor, int, bool)"/>.</summary>
    public Tensor Mean(int dim, bool keepDim = false) => F.Mean(this, dim, keepDim);
    /// <summary><see cref="F.Norm"/>: the L2 (Frobenius) norm of all elements, shape (1).</summary>
    public Tensor Norm() => F.Norm(this);
    /// <summary><see cref="F.Square"/>.</summary>
    public Tensor Square() => F.Square(this);
    /// <summary><see cref="F.Relu"/>.</summary>
    public Tensor Relu() => F.Relu(this);
    /// <summary><see cref="F.Tanh"/>.</summary>
    public Tensor Tanh() => F.Tanh(this);
    /// <summary><see cref="F.Sigmoid"/>.</summary>
    public Tensor Sigmoid() => F.Sigmoid(this);
    /// <summary><see cref="F.Exp"/>.</summary>
    public Tensor Exp() => F.Exp(this);

    /// <summary>a + b, broadcasting the smaller operand over leading dimensions (see <see cref="F.Add"/>).</summary>
    public static Tensor operator +(Tensor a, Tensor b) => F.Add(a, b);
    /// <summary>a - b, broadcasting as <see cref="F.Add"/>.</summary>
    public static Tensor operator -(Tensor a, Tensor b) => F.Sub(a, b);
    /// <summary>a * b element-wise, broadcasting as <see cref="F.Add"/>.</summary>
    public static Tensor operator *(Tensor a, Tensor b) => F.Mul(a, b);
    /// <summary>a / b element-wise, broadcasting as <see cref="F.Add"/>.</summary>
    public static Tensor operator /(Tensor a, Tensor b) => F.Div(a, b);
    /// <summary>s·x.</summary>
    public static Tensor operator *(Tensor x, float s) => F.Affine(x, s, 0f);
    /// <summary>s·x.</summary>
    public static Tensor operator *(float s, Tensor x) => F.Affine(x, s, 0f);
    /// <summary>x / s.</summary>
    public static Tensor operator /(Tensor x, float s) => F.Affine(x, 1f / s, 0f);
    /// <summary>x + s.</summary>
    public static Tensor operator +(Tensor x, float s) => F.Affine(x, 1f, s);
    /// <summary>s + x.</summary>
    public static Tensor operator +(float s, Tensor x) => F.Affine(x, 1f, s);
    /// <summary>x - s.</summary>
    public static Tensor operator -(Tensor x, float s) => F.Affine(x, 1f, -s);
    /// <summary>s - x.</summary>
    public static Tensor operator -(float s, Tensor x) => F.Affine(x, -1f, s);
    /// <summary>-x.</summary>
    public static Tensor operator -(Tensor x) => F.Affine(x, -1f, 0f);

    // ---- in place, no graph (optimizers) ----

    /// <summary>Sets every element to 0.</summary>
    public Tensor Zero_() => InPlace.Fill(this, 0f);
    /// <summary>Sets every element to <paramref name="value"/>.</summary>
    public Tensor Fill_(float value) => InPlace.Fill(this, value);
    /// <summary>Copies <paramref name="source"/>'s values (same number of elements) into this tensor.</summary>
    public Tensor Copy_(Tensor source) => InPlace.Copy(this, source);
    /// <summary>this += alpha·other; other broadcasts over leading dimensions (or is one element, e.g. a
    /// device-side scalar).</summary>
    public Tensor Add_(Tensor other, float alpha = 1f) => InPlace.Add(this, other, alpha);
    /// <summary>this += value.</summary>
    public Tensor Add_(float value) => InPlace.Affine(this, 1f, value);
    /// <summary>this *= other (broadcasting as <see cref="Add_(Tensor, float)"/>).</summary>
    public Tensor Mul_(Tensor other) => InPlace.Mul(this, other);
    /// <summary>this *= value.</summary>
    public Tensor Mul_(float value) => InPlace.Affine(this, value, 0f);
    /// <summary>this /= other (broadcasting as <see cref="Add_(Tensor, float)"/>).</summary>
    public Tensor Div_(Tensor other) => InPlace.Div(this, other);
    /// <summary>this += weight·(end - this), torch's lerp_ (a momentum buffer: buf.Lerp_(grad, 1 - beta)).</summary>
    public Tensor Lerp_(Tensor end, float weight) => InPlace.Lerp(this, end, weight);

    /// <summary>"name(2, 3) F32" for messages.</summary>
    public string Describe() => $"{Name ?? "tensor"}{ShapeText(Shape)} {DType}";

    /// <inheritdoc cref="Describe"/>
    public override string ToString() => Describe();

    /// <summary>"(2, 3)".</summary>
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

    /// <summary>Returns the storage to the pool (views only drop their reference), and the gradient a leaf owns.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_ownsStorage) _storage.Dispose();
        if (_ownsGrad && _persistent) _grad?.Dispose();
        GradFn = null;
    }
}
