using ILGPU;
using Speedrun.Kernels.Numerics;

namespace Speedrun.Kernels.Blas;

/// <summary>
/// Matrix products on the device's stream. fp32 everywhere; bf16 operands with fp32 accumulation
/// (fp32 or bf16 output) where the device has tensor cores, emulated exactly on the CPU.
/// Every call validates shapes (ArgumentException naming the op) before launching.
/// </summary>
public interface IBlas : IDisposable
{
    /// <summary>Which library does the work and where it was loaded from.</summary>
    string Description { get; }

    /// <summary>Lets fp32 GEMMs use TF32 tensor cores (10-bit mantissa operands, fp32 accumulation) where
    /// the device has them; off by default so fp32 stays exact. Ignored on the CPU.</summary>
    bool AllowTf32 { get; set; }

    /// <summary>fp32 C = alpha·op(A)·op(B) + beta·C (see <see cref="Blas.Gemm"/> for the layout).</summary>
    void Gemm(in Gemm g, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c);

    /// <summary>bf16 operands, fp32 accumulation and output.</summary>
    void Gemm(in Gemm g, ArrayView<BFloat16> a, ArrayView<BFloat16> b, ArrayView<float> c);

    /// <summary>bf16 operands, fp32 accumulation, bf16 output.</summary>
    void Gemm(in Gemm g, ArrayView<BFloat16> a, ArrayView<BFloat16> b, ArrayView<BFloat16> c);
}
