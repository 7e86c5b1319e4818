namespace Speedrun.Core.Training.Modules;

/// <summary>Parameter initialisers on the host, from a seeded generator (the same seed gives the same bits).</summary>
public static class Init
{
    /// <summary>N(0, std²) by Box-Muller.</summary>
    public static float[] Normal(Random rng, long count, double std)
    {
        var a = new float[count];
        for (long i = 0; i < count; i += 2)
        {
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            double r = Math.Sqrt(-2.0 * Math.Log(u1)) * std;
            a[i] = (float)(r * Math.Cos(2 * Math.PI * u2));
            if (i + 1 < count) a[i + 1] = (float)(r * Math.Sin(2 * Math.PI * u2));
        }
        return a;
    }

    /// <summary>U(−bound, bound).</summary>
    public static float[] Uniform(Random rng, long count, double bound)
    {
        var a = new float[count];
        for (long i = 0; i < count; i++) a[i] = (float)((rng.NextDouble() * 2 - 1) * bound);
        return a;
    }

    /// <summary>PyTorch's default for nn.Linear weights: U(±1/√fan_in).</summary>
    public static float[] LinearDefault(Random rng, int outFeatures, int inFeatures) =>
        Uniform(rng, (long)outFeatures * inFeatures, 1.0 / Math.Sqrt(inFeatures));

    /// <summary>All zeros (the records' zero-initialised projections).</summary>
    public static float[] Zeros(long count) => new float[count];
}
