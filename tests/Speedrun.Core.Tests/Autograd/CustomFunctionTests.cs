using Speedrun.Core.Autograd;
using Speedrun.Benchmark.Catalog;
using Speedrun.Benchmark.Runs;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = Speedrun.Core.Autograd.Tensor;
using TTensor = TorchSharp.torch.Tensor;

namespace Speedrun.Core.Tests.Autograd;

/// <summary>
/// A training program can make its own differentiable op: the fixture program (compiled by the runner's
/// compiler, as a Train.cs is) defines rotary embeddings as a Function with its own ILGPU kernel. Its forward
/// and backward must match TorchSharp's float64 rotary, and Gradcheck must accept it.
/// </summary>
public class CustomFunctionTests
{
    const int B = 2, T = 5, H = 3, D = 8;

    static LoadedProgram Program() => LoadedProgram.Load(Path.Combine(
        BenchmarkCatalog.FindRoot(AppContext.BaseDirectory), "tests", "Speedrun.Core.Tests", "Fixtures", "rotary-function", "Train.cs"));

    static Device Cpu => Kernels.Tests.OpCheck.Cpu;

    static (Tensor Cos, Tensor Sin) Tables(LoadedProgram program)
    {
        var tables = program.Type("Rotary").GetMethod("Tables")!.Invoke(null, [Cpu, T, D, 10000.0])!;
        return ((Tensor)tables.GetType().GetField("Item1")!.GetValue(tables)!, (Tensor)tables.GetType().GetField("Item2")!.GetValue(tables)!);
    }

    static Function NewRotary(LoadedProgram program, Tensor cos, Tensor sin) =>
        (Function)Activator.CreateInstance(program.Type("Rotary"), cos, sin)!;

    [Fact]
    public void RotaryFunctionFromAProgramMatchesTorch()
    {
        var program = Program();
        using var scope = new TensorScope();
        var (cos, sin) = Tables(program);
        var rng = new Random(7);
        var xData = Enumerable.Range(0, B * T * H * D).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
        var dyData = Enumerable.Range(0, B * T * H * D).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var x = Tensor.FromArray(Cpu, xData, B, T, H, D);
        x.RequiresGrad = true;
        var y = NewRotary(program, cos, sin).Apply(x);
        y.Backward(Tensor.FromArray(Cpu, dyData, B, T, H, D));

        // TorchSharp, float64: the pairs (i, i + D/2) rotated by -θ(t, i), from the same float32 tables.
        var tx = torch.tensor(xData.Select(v => (double)v).ToArray(), [B, T, H, D]).requires_grad_();
        var tc = torch.tensor(cos.ToArray().Select(v => (double)v).ToArray(), [T, 1, D / 2]);
        var ts = torch.tensor(sin.ToArray().Select(v => (double)v).ToArray(), [T, 1, D / 2]);
        var x1 = tx[.., .., .., ..(D / 2)];
        var x2 = tx[.., .., .., (D / 2)..];
        var ty = torch.cat([x1 * tc + x2 * ts, -x1 * ts + x2 * tc], -1);
        var tdy = torch.tensor(dyData.Select(v => (double)v).ToArray(), [B, T, H, D]);
        var tdx = torch.autograd.grad([ty], [tx], [tdy])[0];

        Kernels.Tests.OpCheck.Close(ty.detach(), y.ToArray(), 1e-6, 1e-6, "rotary forward");
        Kernels.Tests.OpCheck.Close(tdx, x.Grad!.ToArray(), 1e-6, 1e-6, "rotary backward");
    }

    [Fact]
    public void GradcheckAcceptsTheProgramsRotary()
    {
        var program = Program();
        using var scope = new TensorScope();
        var (cos, sin) = Tables(program);
        var rng = new Random(3);
        var x = Tensor.FromArray(Cpu, Enumerable.Range(0, B * T * H * D).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray(), B, T, H, D);
        var result = Gradcheck.Check(inputs => NewRotary(program, cos, sin).Apply(inputs[0]), [x]);
        Assert.Equal(B * T * H * D, result.ElementsChecked);
        Assert.True(result.MaxAbsError < 1e-4, $"max error {result.MaxAbsError}");
    }

    /// <summary>A backward that is wrong by a factor on one input must be caught.</summary>
    [Fact]
    public void GradcheckRejectsAWrongBackward()
    {
        using var scope = new TensorScope();
        var a = Tensor.FromArray(Cpu, [0.5f, -1.25f, 2f, 0.75f], 2, 2);
        var b = Tensor.FromArray(Cpu, [1.5f, 0.25f, -0.5f, 1f], 2, 2);
        var e = Assert.Throws<InvalidOperationException>(() => Gradcheck.Check(x => new WrongProduct().Apply(x[0], x[1]), [a, b]));
        Assert.Contains("input 1", e.Message);
        Assert.DoesNotContain("input 0", e.Message);
        // The same product through the engine's own ops passes.
        Gradcheck.Check(x => x[0] * x[1], [a, b]);
    }

    /// <summary>a ⊙ b whose backward forgets a factor 2 on b's gradient... and doubles it.</summary>
    sealed class WrongProduct : Function
    {
        protected override Tensor[] Forward(Tensor[] x) => [x[0] * x[1]];
        public override Tensor?[] Backward(Tensor[] dy) => [Inputs[1] * dy[0], 2f * (Inputs[0] * dy[0])];
    }
}
