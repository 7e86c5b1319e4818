using Speedrun.Core.Autograd;

namespace Speedrun.Core.Training.Modules;

/// <summary>nn.Linear without bias: weight (out, in), y = x·Wᵀ.</summary>
public sealed class Linear : Module
{
    public Linear(Device device, Random rng, int inFeatures, int outFeatures, float[]? init = null) : base(device)
    {
        Weight = Parameter("weight", init ?? Init.LinearDefault(rng, outFeatures, inFeatures), outFeatures, inFeatures);
    }

    public Tensor Weight { get; }

    public Tensor Forward(Tensor x) => F.Linear(x, Weight);
}

/// <summary>nn.Embedding: a (rows, dim) table.</summary>
public sealed class Embedding : Module
{
    public Embedding(Device device, int rows, int dim, float[] init) : base(device)
    {
        Weight = Parameter("weight", init, rows, dim);
    }

    public Tensor Weight { get; }
}
