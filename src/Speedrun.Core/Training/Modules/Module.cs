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

    protected Module(Device device) => Device = device;

    public Device Device { get; }

    protected Tensor Parameter(string name, float[] init, params int[] shape)
    {
        var p = Tensor.Parameter(Device, name, init, shape);
        _parameters.Add((name, p));
        return p;
    }

    /// <summary>Shares a parameter another module owns (weight tying): it appears once in Parameters().</summary>
    protected Tensor Shared(Tensor parameter) => parameter;

    protected T Child<T>(string name, T module) where T : Module
    {
        _children.Add((name, module));
        return module;
    }

    /// <summary>Every parameter once, with its full dotted name, in registration order.</summary>
    public IReadOnlyList<Tensor> Parameters() => NamedParameters().Select(p => p.Value).ToList();

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

    public long ParameterCount() => Parameters().Sum(p => p.Length);

    public void ZeroGrad()
    {
        foreach (var p in Parameters()) p.ZeroGrad();
    }

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
