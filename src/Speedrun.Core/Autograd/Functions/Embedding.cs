using Speedrun.Kernels.Ops;

namespace Speedrun.Core.Autograd.Functions;

/// <summary>
/// x[b,t,:] = wte[token[b,t],:] + wpe[t,:] (wpe optional). Backward scatters dx into the tables without
/// float atomics: positions are grouped by token on the host (the ids came from the host loader).
/// </summary>
internal sealed class Embedding : Node
{
    readonly Tensor _tokens;
    readonly int _b, _t, _c;

    Embedding(Tensor tokens, Tensor wte, Tensor? wpe, int b, int t, int c)
        : base("embedding", wpe is null ? [wte] : [wte, wpe])
    {
        _tokens = tokens;
        (_b, _t, _c) = (b, t, c);
    }

    public static Tensor Apply(Tensor tokens, Tensor wte, Tensor? wpe)
    {
        Check.Dtype("Embedding", tokens, DType.I32);
        Check.Rank("Embedding", tokens, 2, "token ids of shape (B, T)");
        Check.Rank("Embedding", wte, 2, "a table of shape (V, C)");
        int b = tokens.Dim(0), t = tokens.Dim(1), c = wte.Dim(1);
        if (wpe is not null)
            Check.That(wpe.Rank == 2 && wpe.Dim(1) == c && wpe.Dim(0) >= t, "Embedding",
                () => $"position table {wpe.Describe()} must be (≥{t}, {c}).");
        var x = Tensor.Empty(wte.Device, b, t, c);
        var wpeView = wpe is null ? default : wpe.F32.SubView(0, (long)t * c);
        wte.Device.Embedding().Forward(tokens.I32, wte.F32, wpeView, b, t, c, x.F32);
        return Record(new Embedding(tokens, wte, wpe, b, t, c), x);
    }

    public override Tensor?[] Backward(Tensor dx)
    {
        var device = dx.Device;
        var kernels = device.Embedding();
        var wte = Inputs[0];
        var host = _tokens.HostInts ?? _tokens.ToIntArray();
        Tensor? dwte = null, dwpe = null;
        if (wte.RequiresGrad)
        {
            dwte = GradTarget(wte, out bool fresh);
            using var plan = kernels.PlanTokenBackward(host, wte.Dim(0));
            kernels.TokenBackward(plan, dx.F32, _c, dwte.F32);
            if (!fresh) dwte = null; // accumulated straight into the parameter's gradient
        }
        if (Inputs.Length > 1 && Inputs[1].RequiresGrad)
        {
            var wpe = Inputs[1];
            dwpe = GradTarget(wpe, out bool fresh);
            kernels.PositionBackward(dx.F32, _b, _t, _c, dwpe.F32.SubView(0, (long)_t * _c));
            if (!fresh) dwpe = null;
        }
        return Inputs.Length > 1 ? [dwte, dwpe] : [dwte];
    }

    /// <summary>The buffer a "+=" kernel should accumulate into: the parameter's own gradient for
    /// leaves, else a fresh zeroed tensor handed back to the engine.</summary>
    internal static Tensor GradTarget(Tensor input, out bool fresh)
    {
        if (input.IsLeaf) { fresh = false; return input.Grad!; }
        fresh = true;
        return Tensor.Zeros(input.Device, input.Shape);
    }
}
