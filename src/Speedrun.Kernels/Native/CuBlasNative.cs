using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Speedrun.Kernels.Native;

/// <summary>cuBLAS entry points the engine calls (CUDA 12/13 share this ABI). Enum values: facts/engine.md §7.</summary>
internal static unsafe partial class CuBlasNative
{
    const string Lib = NativeLibraries.CuBlas;

    internal const int OpN = 0, OpT = 1;
    internal const int R32F = 0, R16BF = 14;
    internal const int Compute32F = 68, Compute32FFastTF32 = 77;
    internal const int GemmDefault = -1;
    internal const int MathDefault = 0, MathTf32 = 3;

    [LibraryImport(Lib, EntryPoint = "cublasCreate_v2")]
    internal static partial int Create(out nint handle);

    [LibraryImport(Lib, EntryPoint = "cublasDestroy_v2")]
    internal static partial int Destroy(nint handle);

    [LibraryImport(Lib, EntryPoint = "cublasSetStream_v2")]
    internal static partial int SetStream(nint handle, nint stream);

    [LibraryImport(Lib, EntryPoint = "cublasSetMathMode")]
    internal static partial int SetMathMode(nint handle, int mode);

    [LibraryImport(Lib, EntryPoint = "cublasSetWorkspace_v2")]
    internal static partial int SetWorkspace(nint handle, nint workspace, nuint bytes);

    [LibraryImport(Lib, EntryPoint = "cublasGetVersion_v2")]
    internal static partial int GetVersion(nint handle, out int version);

    [LibraryImport(Lib, EntryPoint = "cublasGemmEx")]
    internal static partial int GemmEx(nint handle, int transa, int transb, int m, int n, int k,
        float* alpha, nint a, int aType, int lda, nint b, int bType, int ldb,
        float* beta, nint c, int cType, int ldc, int computeType, int algo);

    [LibraryImport(Lib, EntryPoint = "cublasGemmStridedBatchedEx")]
    internal static partial int GemmStridedBatchedEx(nint handle, int transa, int transb, int m, int n, int k,
        float* alpha, nint a, int aType, int lda, long strideA, nint b, int bType, int ldb, long strideB,
        float* beta, nint c, int cType, int ldc, long strideC, int batchCount, int computeType, int algo);

    /// <summary>A cublasStatus_t by name (cuBLASLt returns the same codes).</summary>
    internal static string StatusName(int status) => status switch
    {
        1 => "CUBLAS_STATUS_NOT_INITIALIZED",
        3 => "CUBLAS_STATUS_ALLOC_FAILED",
        7 => "CUBLAS_STATUS_INVALID_VALUE",
        8 => "CUBLAS_STATUS_ARCH_MISMATCH",
        11 => "CUBLAS_STATUS_MAPPING_ERROR",
        13 => "CUBLAS_STATUS_EXECUTION_FAILED",
        14 => "CUBLAS_STATUS_INTERNAL_ERROR",
        15 => "CUBLAS_STATUS_NOT_SUPPORTED",
        16 => "CUBLAS_STATUS_LICENSE_ERROR",
        _ => $"status {status}",
    };

    internal static void Check(int status, [CallerArgumentExpression(nameof(status))] string call = "")
    {
        if (status != 0)
            throw new InvalidOperationException($"cuBLAS call failed with {StatusName(status)}: {call}");
    }
}
