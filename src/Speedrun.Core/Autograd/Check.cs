namespace Speedrun.Core.Autograd;

/// <summary>Shape checks for the functional API: errors name the op and both shapes.</summary>
internal static class Check
{
    public static void SameShape(string op, Tensor a, Tensor b)
    {
        if (!a.Shape.SequenceEqual(b.Shape))
            throw new ArgumentException($"{op}: shapes differ: {a.Describe()} vs {b.Describe()}.");
    }

    public static void Rank(string op, Tensor t, int rank, string expected)
    {
        if (t.Rank != rank) throw new ArgumentException($"{op}: expected {expected}, got {t.Describe()}.");
    }

    public static void Dtype(string op, Tensor t, DType dtype)
    {
        if (t.DType != dtype) throw new ArgumentException($"{op}: expected {dtype}, got {t.Describe()}.");
    }

    public static void That(bool condition, string op, Func<string> message)
    {
        if (!condition) throw new ArgumentException($"{op}: {message()}");
    }
}
