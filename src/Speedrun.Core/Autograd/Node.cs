namespace Speedrun.Core.Autograd;

/// <summary>
/// One recorded op: what it read, what it made, and how to turn the gradient of its output into gradients
/// of its inputs. Each op in Functions/ is a Node subclass with Forward (a static Apply) and Backward side
/// by side.
/// </summary>
internal abstract class Node
{
    protected Node(string name, params Tensor[] inputs)
    {
        Name = name;
        Inputs = inputs;
    }

    public string Name { get; }
    public Tensor[] Inputs { get; }
    public Tensor? Output { get; private set; }

    /// <summary>Gradients for each input (null where an input needs none). Returned tensors are owned by
    /// the caller; a gradient may alias storage the node owns only if documented (see CrossEntropy).</summary>
    public abstract Tensor?[] Backward(Tensor gradOutput);

    /// <summary>The root of a backward pass may be told the seed on the host, saving a device read.</summary>
    public virtual Tensor?[] BackwardFromSeed(Tensor seedTensor, float seed) => Backward(seedTensor);

    /// <summary>Drops what the node saved for backward (called once backward has passed it).</summary>
    public virtual void Release() { }

    /// <summary>Links the output to this node when any input needs a gradient and grad mode is on.</summary>
    public static Tensor Record(Node node, Tensor output)
    {
        if (GradMode.Enabled && node.Inputs.Any(i => i.RequiresGrad))
        {
            node.Output = output;
            output.Creator = node;
            output.RequiresGrad = true;
        }
        return output;
    }

    /// <summary>Whether recording will happen for these inputs (ops skip saving state when not).</summary>
    public static bool WillRecord(params Tensor[] inputs) => GradMode.Enabled && inputs.Any(i => i.RequiresGrad);
}
