using Speedrun.Kernels.Ops;

namespace Speedrun.Core.Autograd.Functions;

/// <summary>A new shape over the same storage (no copy); the gradient is reshaped back.</summary>
internal sealed class Reshape(int[] shape) : Function("reshape")
{
    public static Tensor Apply(Tensor x, int[] shape) =>
        NeedsGrad(x) ? new Reshape(shape).Apply(x) : x.AliasWithShape(shape);

    protected override Tensor[] Forward(Tensor[] inputs) => [inputs[0].AliasWithShape(shape)];

    public override Tensor?[] Backward(Tensor[] gradOutputs) => [gradOutputs[0].AliasWithShape(Inputs[0].Shape)];
}

/// <summary>Dimension arithmetic shared by the layout ops: a tensor seen as (outer, size, inner) around one dim.</summary>
internal static class Dims
{
    public static int Normalize(string op, Tensor x, int dim)
    {
        int d = dim < 0 ? dim + x.Rank : dim;
        if (d < 0 || d >= x.Rank) throw new ArgumentException($"{op}: dim {dim} is out of range for {x.Describe()}.");
        return d;
    }

    public static int Product(int[] shape, int from, int to)
    {
        long p = 1;
        for (int i = from; i < to; i++) p *= shape[i];
        return checked((int)p);
    }

    public static int Outer(int[] shape, int dim) => Product(shape, 0, dim);
    public static int Inner(int[] shape, int dim) => Product(shape, dim + 1, shape.Length);

    public static int[] With(int[] shape, int dim, int size)
    {
        var s = (int[])shape.Clone();
        s[dim] = size;
        return s;
    }
}

/// <summary>A copy with dimensions dim0 and dim1 swapped (B, T, H, D ↔ B, H, T, D); the backward swaps back.</summary>
internal sealed class Transpose(int dim0, int dim1) : Function("transpose")
{
    internal static void Run(Tensor x, int d0, int d1, Tensor y)
    {
        var s = x.Shape;
        x.Device.Layout().Transpose(x.F32, Dims.Outer(s, d0), s[d0], Dims.Product(s, d0 + 1, d1), s[d1],
            Dims.Inner(s, d1), y.F32);
    }

    internal static int[] Swapped(int[] shape, int d0, int d1)
    {
        var s = (int[])shape.Clone();
        (s[d0], s[d1]) = (s[d1], s[d0]);
        return s;
    }

    protected override Tensor[] Forward(Tensor[] inputs)
    {
        var x = inputs[0];
        var y = Tensor.Empty(x.Device, Swapped(x.Shape, dim0, dim1));
        Run(x, dim0, dim1, y);
        return [y];
    }

    public override Tensor?[] Backward(Tensor[] gradOutputs)
    {
        var dy = gradOutputs[0];
        var dx = Tensor.Empty(dy.Device, Inputs[0].Shape);
        Run(dy, dim0, dim1, dx);
        return [dx];
    }
}

/// <summary>
/// Consecutive pieces of one dimension (torch.split): outputs[i] takes sizes[i] elements of dim, in order.
/// Seen as (outer, size·inner) rows, each piece is a block of columns; the backward writes each piece's
/// gradient back into its columns (zeros where a piece got none).
/// </summary>
internal sealed class Split(int dim, int[] sizes) : Function("split")
{
    protected override Tensor[] Forward(Tensor[] inputs)
    {
        var x = inputs[0];
        int outer = Dims.Outer(x.Shape, dim), inner = Dims.Inner(x.Shape, dim), width = x.Shape[dim] * inner;
        var layout = x.Device.Layout();
        var outputs = new Tensor[sizes.Length];
        int offset = 0;
        for (int i = 0; i < sizes.Length; i++)
        {
            outputs[i] = Tensor.Empty(x.Device, Dims.With(x.Shape, dim, sizes[i]));
            layout.CopyColumns(x.F32, width, offset * inner, outputs[i].F32, sizes[i] * inner, 0, outer, sizes[i] * inner);
            offset += sizes[i];
        }
        return outputs;
    }

    public override Tensor?[] Backward(Tensor[] gradOutputs)
    {
        var x = Inputs[0];
        var dx = Tensor.Empty(x.Device, x.Shape);
        Cat.Run(gradOutputs, dim, dx);
        return [dx];
    }
}

/// <summary>Concatenation along one dimension (torch.cat); the backward splits the gradient.</summary>
internal sealed class Cat(int dim) : Function("cat")
{
    internal static void Run(IReadOnlyList<Tensor> pieces, int dim, Tensor y)
    {
        int outer = Dims.Outer(y.Shape, dim), inner = Dims.Inner(y.Shape, dim), width = y.Shape[dim] * inner;
        var layout = y.Device.Layout();
        int offset = 0;
        foreach (var p in pieces)
        {
            int size = p.Shape[dim];
            layout.CopyColumns(p.F32, size * inner, 0, y.F32, width, offset * inner, outer, size * inner);
            offset += size;
        }
    }

    protected override Tensor[] Forward(Tensor[] inputs)
    {
        var first = inputs[0];
        int total = 0;
        foreach (var t in inputs)
        {
            if (t.Rank != first.Rank || Enumerable.Range(0, t.Rank).Any(i => i != dim && t.Shape[i] != first.Shape[i]))
                throw new ArgumentException($"Cat: {t.Describe()} does not match {first.Describe()} outside dim {dim}.");
            total += t.Shape[dim];
        }
        var y = Tensor.Empty(first.Device, Dims.With(first.Shape, dim, total));
        Run(inputs, dim, y);
        return [y];
    }

    public override Tensor?[] Backward(Tensor[] gradOutputs)
    {
        var dy = gradOutputs[0];
        int outer = Dims.Outer(dy.Shape, dim), inner = Dims.Inner(dy.Shape, dim), width = dy.Shape[dim] * inner;
        var layout = dy.Device.Layout();
        var grads = new Tensor?[Inputs.Count];
        int offset = 0;
        for (int i = 0; i < Inputs.Count; i++)
        {
            var x = Inputs[i];
            int size = x.Shape[dim];
            if (NeedsInputGrad(i))
            {
                grads[i] = Tensor.Empty(dy.Device, x.Shape);
                layout.CopyColumns(dy.F32, width, offset * inner, grads[i]!.F32, size * inner, 0, outer, size * inner);
            }
            offset += size;
        }
        return grads;
    }
}

/// <summary>
/// Elements start..start+length-1 of one dimension (torch.narrow). When every dimension before it has size 1
/// (rows of a matrix, positions of a table) the result is a view of the same storage; otherwise a copy.
/// The backward puts the gradient into a zero tensor of the input's shape.
/// </summary>
internal sealed class Narrow(int dim, int start, int length) : Function("narrow")
{
    internal static bool IsContiguous(Tensor x, int dim) => Dims.Outer(x.Shape, dim) == 1;

    public static Tensor Apply(Tensor x, int dim, int start, int length) =>
        NeedsGrad(x) ? new Narrow(dim, start, length).Apply(x) : Slice(x, dim, start, length);

    static Tensor Slice(Tensor x, int dim, int start, int length)
    {
        int inner = Dims.Inner(x.Shape, dim);
        var shape = Dims.With(x.Shape, dim, length);
        if (IsContiguous(x, dim)) return x.Alias((long)start * inner, shape);
        var y = Tensor.Empty(x.Device, shape);
        x.Device.Layout().CopyColumns(x.F32, x.Shape[dim] * inner, start * inner, y.F32, length * inner, 0,
            Dims.Outer(x.Shape, dim), length * inner);
        return y;
    }

    protected override Tensor[] Forward(Tensor[] inputs) => [Slice(inputs[0], dim, start, length)];

    public override Tensor?[] Backward(Tensor[] gradOutputs)
    {
        var dy = gradOutputs[0];
        var x = Inputs[0];
        var dx = Tensor.Zeros(dy.Device, x.Shape);
        int inner = Dims.Inner(x.Shape, dim);
        dy.Device.Layout().CopyColumns(dy.F32, length * inner, 0, dx.F32, x.Shape[dim] * inner, start * inner,
            Dims.Outer(x.Shape, dim), length * inner);
        return [dx];
    }
}
