using ILGPU;
using ILGPU.Runtime;
using Speedrun.Kernels.Native;
using Speedrun.Kernels.Numerics;
using static Speedrun.Kernels.Native.CuBlasNative;

namespace Speedrun.Kernels.Blas;

/// <summary>
/// cuBLAS through our own bindings. ILGPU creates its own CUDA context, so every call binds the
/// accelerator first (cuBLAS uses whatever context is current). Row-major C = op(A) op(B) is issued as
/// the column-major product C^T = op(B)^T op(A)^T, which needs no copies.
/// </summary>
internal sealed unsafe class CuBlas : IBlas
{
    readonly Runtime.Device _device;
    readonly nint _handle;
    readonly MemoryBuffer1D<byte, Stride1D.Dense> _workspace;

    public CuBlas(Runtime.Device device)
    {
        _device = device;
        var lib = NativeLibraries.Require(NativeLibraries.CuBlas);
        device.Accelerator.Bind();
        Check(Create(out _handle));
        Check(SetStream(_handle, device.CudaStreamHandle));
        // fp32 GEMMs stay true fp32 (the oracle tests compare against fp32 references).
        Check(SetMathMode(_handle, MathDefault));
        _workspace = device.Accelerator.Allocate1D<byte>(32L << 20); // 32 MiB, as Hopper wants
        Check(SetWorkspace(_handle, _workspace.NativePtr, (nuint)_workspace.Length));
        Check(GetVersion(_handle, out int version));
        Version = version;
        Description = $"cuBLAS {version / 10000}.{version / 100 % 100}.{version % 100} from {lib.LoadedFrom}";
    }

    public int Version { get; }

    bool _tf32;

    public bool AllowTf32
    {
        get => _tf32;
        set => _tf32 = value; // applied per call through the compute type
    }
    public string Description { get; }

    public void Gemm(in Gemm g, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c)
    {
        g.Validate("cuBLAS GEMM fp32", a.Length, b.Length, c.Length);
        Issue(g, a.LoadEffectiveAddressAsPtr(), R32F, b.LoadEffectiveAddressAsPtr(), R32F,
            c.LoadEffectiveAddressAsPtr(), R32F);
    }

    public void Gemm(in Gemm g, ArrayView<BFloat16> a, ArrayView<BFloat16> b, ArrayView<float> c)
    {
        g.Validate("cuBLAS GEMM bf16->fp32", a.Length, b.Length, c.Length);
        Issue(g, a.LoadEffectiveAddressAsPtr(), R16BF, b.LoadEffectiveAddressAsPtr(), R16BF,
            c.LoadEffectiveAddressAsPtr(), R32F);
    }

    public void Gemm(in Gemm g, ArrayView<BFloat16> a, ArrayView<BFloat16> b, ArrayView<BFloat16> c)
    {
        g.Validate("cuBLAS GEMM bf16->bf16", a.Length, b.Length, c.Length);
        Issue(g, a.LoadEffectiveAddressAsPtr(), R16BF, b.LoadEffectiveAddressAsPtr(), R16BF,
            c.LoadEffectiveAddressAsPtr(), R16BF);
    }

    void Issue(in Gemm g, nint a, int aType, nint b, int bType, nint c, int cType)
    {
        if (g.M == 0 || g.N == 0 || g.BatchCount == 0) return;
        _device.Accelerator.Bind();
        float alpha = g.Alpha, beta = g.Beta;
        int compute = aType == R32F && _tf32 ? Compute32FFastTF32 : Compute32F;
        // Column-major view: C^T (N x M) = op(B)^T (N x K) * op(A)^T (K x M).
        int opB = g.TransB ? OpT : OpN, opA = g.TransA ? OpT : OpN;
        if (g.BatchCount == 1)
            Check(GemmEx(_handle, opB, opA, g.N, g.M, g.K, &alpha, b, bType, g.Ldb, a, aType, g.Lda,
                &beta, c, cType, g.Ldc, compute, GemmDefault));
        else
            Check(GemmStridedBatchedEx(_handle, opB, opA, g.N, g.M, g.K, &alpha, b, bType, g.Ldb, g.StrideB,
                a, aType, g.Lda, g.StrideA, &beta, c, cType, g.Ldc, g.StrideC, g.BatchCount, compute, GemmDefault));
    }

    public void Dispose()
    {
        _device.Accelerator.Bind();
        Destroy(_handle);
        _workspace.Dispose();
    }
}
