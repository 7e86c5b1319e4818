using ILGPU;
using ILGPU.Runtime;
using Speedrun.Kernels.Blas;
using TorchSharp;
using static Speedrun.Benchmarks.KernelCases.TinyShapes;
using TTensor = TorchSharp.torch.Tensor;

namespace Speedrun.Benchmarks.KernelCases;

/// <summary>Which product of the tied output head.</summary>
public enum HeadProduct
{
    /// <summary>logits (N, V) = x (N, C) · wteᵀ.</summary>
    Logits,
    /// <summary>dx (N, C) = dlogits (N, V) · wte (V, C).</summary>
    InputGrad,
    /// <summary>dwte (V, C) += dlogitsᵀ · x.</summary>
    WeightGrad,
}

/// <summary>
/// The three GEMMs of the 50257-wide tied lm_head, the largest products of a tiny step, through the
/// device's BLAS (our managed SIMD GEMM on the CPU) against torch's in-place addmm_ into a preallocated
/// output (so neither side pays for allocating 100 MB of logits). Here to attribute a training step's time;
/// GemmBenchmarks covers the GEMM itself.
/// </summary>
sealed class TiedHeadGemmCase(HeadProduct product) : KernelCase($"Blas lm_head {Describe(product)}")
{
    ArrayView<float> _x, _w, _dLogits, _out;
    TTensor? _tx, _tw, _tdLogits, _tOut;

    static string Describe(HeadProduct p) => p switch
    {
        HeadProduct.Logits => $"x·wteᵀ ({N}x{C}x{V})",
        HeadProduct.InputGrad => $"dlogits·wte ({N}x{V}x{C})",
        _ => $"dlogitsᵀ·x ({V}x{N}x{C}, +=)",
    };

    Gemm Shape => product switch
    {
        HeadProduct.Logits => Gemm.Dense(false, true, N, V, C),
        HeadProduct.InputGrad => Gemm.Dense(false, false, N, C, V),
        _ => Gemm.Dense(true, false, V, C, N, beta: 1f),
    };

    protected override void Prepare()
    {
        var x = Normal(100, N * C);
        var w = Normal(101, (long)V * C, 0.02f);
        var dLogits = Normal(102, (long)N * V, 1e-3f);
        (_x, _w, _dLogits) = (Upload(x), Upload(w), Upload(dLogits));
        (_tx, _tw, _tdLogits) = (Tensor(x, N, C), Tensor(w, V, C), Tensor(dLogits, N, V));
        long outCount = product switch { HeadProduct.Logits => (long)N * V, HeadProduct.InputGrad => N * C, _ => (long)V * C };
        _out = Zeros(outCount);
        _tOut = product switch
        {
            HeadProduct.Logits => Own(torch.zeros(N, V)),
            HeadProduct.InputGrad => Own(torch.zeros(N, C)),
            _ => Own(torch.zeros(V, C)),
        };
    }

    public override void RunOurs()
    {
        var g = Shape;
        switch (product)
        {
            case HeadProduct.Logits: Device.Blas.Gemm(g, _x, _w, _out); break;
            case HeadProduct.InputGrad: Device.Blas.Gemm(g, _dLogits, _w, _out); break;
            default: Device.Blas.Gemm(g, _dLogits, _x, _out); break;
        }
    }

    public override void RunTorch()
    {
        using var scope = torch.NewDisposeScope();
        switch (product)
        {
            case HeadProduct.Logits: _tOut!.addmm_(_tx!, _tw!.t(), beta: 0f); break;
            case HeadProduct.InputGrad: _tOut!.addmm_(_tdLogits!, _tw!, beta: 0f); break;
            default: _tOut!.addmm_(_tdLogits!.t(), _tx!, beta: 1f); break;
        }
    }

    public override void Validate()
    {
        _out.MemSetToZero();
        _tOut!.zero_();
        RunOurs();
        RunTorch();
        var reference = Values(_tOut);
        double scale = reference.Max(v => Math.Abs(v));
        // fp32 dot products of length up to 50257 in different orders: 1e-5 of the largest output.
        Check("output", Download(_out), reference, 1e-5 * scale, 1e-4);
    }

    public override string Throughput(double seconds) => GFlops(Shape.Flops, seconds);
}
