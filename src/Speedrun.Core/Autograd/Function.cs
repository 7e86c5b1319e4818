namespace Speedrun.Core.Autograd;

/// <summary>
/// A differentiable op, as torch.autograd.Function. <see cref="Forward"/> computes the outputs with any ops
/// or kernels and keeps, in the instance's fields, what the backward needs; <see cref="Backward"/> turns the
/// gradients of the outputs into gradients of the inputs. <see cref="Apply"/> runs Forward with recording
/// off (the Function is one node of the graph) and links the outputs to it. The engine's own ops
/// (Functions/) are written this way, and so is a training program's own op:
/// <code>
/// sealed class Cube : Function
/// {
///     protected override Tensor[] Forward(Tensor[] x) => [x[0] * x[0] * x[0]];
///     public override Tensor?[] Backward(Tensor[] dy) => [3f * Inputs[0].Square() * dy[0]];
/// }
///
/// var y = new Cube().Apply(x);
/// </code>
/// An instance is used once. Inputs are the tensors passed to Apply, in order; Backward returns one gradient
/// per input (null for inputs that need none, such as int token ids). Backward also runs with recording off.
/// </summary>
public abstract class Function
{
    readonly string? _name;
    Tensor[] _inputs = [];
    Tensor[] _outputs = [];
    bool _applied;

    /// <param name="name">The name in profiles and messages (default: the type's name).</param>
    protected Function(string? name = null) => _name = name;

    /// <summary>The op's name in profiles and messages.</summary>
    public string Name => _name ?? GetType().Name;

    /// <summary>The inputs Apply was given, in order.</summary>
    public IReadOnlyList<Tensor> Inputs => _inputs;

    /// <summary>The outputs Forward returned (linked to this op when a graph was recorded).</summary>
    public IReadOnlyList<Tensor> Outputs => _outputs;

    /// <summary>True while Forward runs if a graph is being recorded (grad mode on and an input needs a
    /// gradient): Forward can skip saving state for backward when it is false.</summary>
    protected bool IsRecording { get; private set; }

    /// <summary>Whether input <paramref name="index"/> needs a gradient (torch's ctx.needs_input_grad):
    /// Backward may return null for one that does not.</summary>
    public bool NeedsInputGrad(int index) => _inputs[index].RequiresGrad;

    /// <summary>Computes the outputs from the inputs. Runs with recording off.</summary>
    protected abstract Tensor[] Forward(Tensor[] inputs);

    /// <summary>
    /// Gradients of the inputs, one per input in order (null where none is needed or the input does not
    /// influence the outputs), from the gradients of the outputs (one per output; zeros for an output no
    /// gradient reached). Return new tensors or views of them, never an input's own storage.
    /// </summary>
    public abstract Tensor?[] Backward(Tensor[] gradOutputs);

    /// <summary>Drops what the op saved for backward (called once backward has passed it).</summary>
    protected internal virtual void Release() { }

    /// <summary>The root of a backward pass may be told the seed on the host, saving a device read
    /// (cross-entropy uses this).</summary>
    internal virtual Tensor?[] BackwardFromSeed(Tensor seedTensor, float seed) => Backward([seedTensor]);

    /// <summary>Runs the op on <paramref name="inputs"/> and returns its one output.</summary>
    public Tensor Apply(params Tensor[] inputs)
    {
        var outputs = ApplyMany(inputs);
        if (outputs.Length != 1)
            throw new InvalidOperationException($"{Name}: Apply expects one output, Forward returned {outputs.Length}; use ApplyMany.");
        return outputs[0];
    }

    /// <summary>Runs the op on <paramref name="inputs"/> and returns all its outputs.</summary>
    public Tensor[] ApplyMany(params Tensor[] inputs)
    {
        if (_applied) throw new InvalidOperationException($"{Name}: a Function instance is applied once; make a new one.");
        _applied = true;
        _inputs = inputs;
        bool record = NeedsGrad(inputs);
        IsRecording = record;
        Tensor[] outputs;
        using (Profiler.IsActive ? Profiler.Op(Name) : default)
        using (GradMode.NoGrad())
            outputs = Forward(inputs);
        IsRecording = false;
        _outputs = outputs;
        if (!record) return outputs;
        for (int i = 0; i < outputs.Length; i++)
        {
            var o = outputs[i];
            if (o.GradFn is not null || o.IsLeaf || Array.IndexOf(outputs, o) != i || Array.IndexOf(inputs, o) >= 0)
                throw new InvalidOperationException(
                    $"{Name}: Forward must return new tensors (or new views), not an input or a tensor of another graph ({o.Describe()}).");
            o.GradFn = this;
            o.MarkRequiresGrad();
        }
        return outputs;
    }

    /// <summary>Whether ops on these inputs record a graph now: grad mode is on and one of them needs a
    /// gradient.</summary>
    public static bool NeedsGrad(params Tensor[] inputs)
    {
        if (!GradMode.Enabled) return false;
        foreach (var i in inputs)
            if (i.RequiresGrad) return true;
        return false;
    }
}
