using Speedrun.Core.Autograd;

namespace Speedrun.Core.Training.Modules;

/// <summary>nn.Linear without bias: weight (out, in), y = x·Wᵀ.</summary>
public sealed class Linear : Module
{
    /// <summary>A weight initialised as PyTorch does (U(±1/√in)) unless <paramref name="init"/> is given.</summary>
    public Linear(Device device, Random rng, int inFeatures, int outFeatures, float[]? init = null) : base(device)
    {
        Weight = Parameter("weight", init ?? Init.LinearDefault(rng, outFeatures, inFeatures), outFeatures, inFeatures);
    }

    /// <summary>The (out, in) weight.</summary>
    public Tensor Weight { get; }

    /// <summary>x·Wᵀ.</summary>
    public Tensor Forward(Tensor x) => F.Linear(x, Weight);
}

/// <summary>nn.Embedding: a (rows, dim) table.</summary>
public sealed class Embedding : Module
{
    /// <summary>A table with the given initial values.</summary>
    public Embedding(Device device, int rows, int dim, float[] init) : base(device)
    {
        Weight = Parameter("weight", init, rows, dim);
    }

    /// <summary>The (rows, dim) table.</summary>
    public Tensor Weight { get; }

    /// <summary>Rows of the table for token ids (B, T).</summary>
    public Tensor Forward(Tensor tokens) => F.Embedding(tokens, Weight);
}
