using Speedrun.Core.Autograd;

namespace Speedrun.Core.Training.Modules;

/// <summary>
/// A tree of named parameters, as torch.nn.Module: parameters and children are registered in the
/// constructor and named by their path ("h.0.attn.c_attn.weight"). Disposing frees every parameter.
/// </summary>
public abstract class Module : IDisposable
{
    readonly List<(string Name, Tensor Value)> _parameters = new();
    readonly List<(string Name, Module Value)> _children = new();

    /// <summary>A module whose parameters live on <paramref name="device"/>.</summary>
    protected Module(Device device) => Device = device;

    /// <summary>Where the parameters live.</summary>
    public Device Device { get; }

    /// <summary>Registers a trainable parameter (a scalar λ is shape (1)) with its initial values.</summary>
    protected Tensor Parameter(string name, float[] init, params int[] shape)
    {
        var p = Tensor.Parameter(Device, name, init, shape);
        _parameters.Add((name, p));
        return p;
    }

    /// <summary>Shares a parameter another module owns (weight tying): it appears once in Parameters().</summary>
    protected Tensor Shared(Tensor parameter) => parameter;

    /// <summary>Registers a submodule; its parameters are named "name.…".</summary>
    protected T Child<T>(string name, T module) where T : Module
    {
        _children.Add((name, module));
        return module;
    }

    /// <summary>Every parameter once, with its full dotted name, in registration order.</summary>
    public IReadOnlyList<Tensor> Parameters() => NamedParameters().Select(p => p.Value).ToList();

    /// <summary>Every parameter once with its dotted name, in registration order.</summary>
    public IReadOnlyList<(string Name, Tensor Value)> NamedParameters()
    {
        var result = new List<(string, Tensor)>();
        var seen = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        Collect("", result, seen);
        return result;
    }

    void Collect(string prefix, List<(string, Tensor)> result, HashSet<Tensor> seen)
    {
        foreach (var (name, p) in _parameters)
            if (seen.Add(p))
            {
                p.Name = prefix + name;
                result.Add((p.Name, p));
            }
        foreach (var (name, child) in _children) child.Collect(prefix + name + ".", result, seen);
    }

    /// <summary>Elements over all parameters.</summary>
    public long ParameterCount() => Parameters().Sum(p => p.Length);

    /// <summary>Zeroes every parameter's gradient.</summary>
    public void ZeroGrad()
    {
        foreach (var p in Parameters()) p.ZeroGrad();
    }

    /// <summary>Frees every parameter and its gradient, and the children.</summary>
    public virtual void Dispose()
    {
        foreach (var (_, p) in _parameters)
        {
            p.Grad?.Dispose();
            p.Dispose();
        }
        foreach (var (_, c) in _children) c.Dispose();
    }
}
