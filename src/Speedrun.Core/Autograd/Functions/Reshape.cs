namespace Speedrun.Core.Autograd.Functions;

/// <summary>A new shape over the same storage; the gradient is reshaped back.</summary>
internal sealed class Reshape : Node
{
    readonly int[] _inputShape;

    Reshape(Tensor x) : base("reshape", x) => _inputShape = x.Shape;

    public static Tensor Apply(Tensor x, int[] shape) =>
        Node.WillRecord(x) ? Record(new Reshape(x), x.AliasWithShape(shape)) : x.AliasWithShape(shape);

    public override Tensor?[] Backward(Tensor dy) => [dy.AliasWithShape(_inputShape)];
}
