using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Speedrun.Kernels.Native;

/// <summary>
/// The cuBLASLt entry points the fp8 GEMM calls (cublasLt.h; CUDA 12 and 13 share this ABI). Handles and
/// descriptors are opaque pointers; every call returns a cublasStatus_t. Enum values: facts/engine.md §7.
/// </summary>
internal static unsafe partial class CuBlasLtNative
{
    const string Lib = NativeLibraries.CuBlasLt;

    // cudaDataType_t
    internal const int R32F = 0, R8FE4M3 = 28, R8FE5M2 = 29;
    // cublasComputeType_t
    internal const int Compute32F = 68;
    // cublasOperation_t
    internal const int OpN = 0, OpT = 1;
    // cublasLtMatmulDescAttributes_t
    internal const int DescTransA = 3, DescTransB = 4, DescAScalePointer = 17, DescBScalePointer = 18, DescFastAccum = 25;
    // cublasLtMatmulPreferenceAttributes_t
    internal const int PrefMaxWorkspaceBytes = 1;

    /// <summary>cublasLtMatmulAlgo_t: 8 opaque 64-bit words.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct MatmulAlgo
    {
        public ulong W0, W1, W2, W3, W4, W5, W6, W7;
    }

    /// <summary>cublasLtMatmulHeuristicResult_t: the algorithm, its workspace, a status and a wave count.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct HeuristicResult
    {
        public MatmulAlgo Algo;
        public nuint WorkspaceSize;
        public int State;
        public float WavesCount;
        public int Reserved0, Reserved1, Reserved2, Reserved3;
    }

    [LibraryImport(Lib, EntryPoint = "cublasLtCreate")]
    internal static partial int Create(out nint handle);

    [LibraryImport(Lib, EntryPoint = "cublasLtDestroy")]
    internal static partial int Destroy(nint handle);

    [LibraryImport(Lib, EntryPoint = "cublasLtGetVersion")]
    internal static partial nuint GetVersion();

    [LibraryImport(Lib, EntryPoint = "cublasLtMatmulDescCreate")]
    internal static partial int MatmulDescCreate(out nint desc, int computeType, int scaleType);

    [LibraryImport(Lib, EntryPoint = "cublasLtMatmulDescSetAttribute")]
    internal static partial int MatmulDescSetAttribute(nint desc, int attribute, void* value, nuint size);

    [LibraryImport(Lib, EntryPoint = "cublasLtMatmulDescDestroy")]
    internal static partial int MatmulDescDestroy(nint desc);

    [LibraryImport(Lib, EntryPoint = "cublasLtMatrixLayoutCreate")]
    internal static partial int MatrixLayoutCreate(out nint layout, int type, ulong rows, ulong cols, long ld);

    [LibraryImport(Lib, EntryPoint = "cublasLtMatrixLayoutDestroy")]
    internal static partial int MatrixLayoutDestroy(nint layout);

    [LibraryImport(Lib, EntryPoint = "cublasLtMatmulPreferenceCreate")]
    internal static partial int PreferenceCreate(out nint preference);

    [LibraryImport(Lib, EntryPoint = "cublasLtMatmulPreferenceSetAttribute")]
    internal static partial int PreferenceSetAttribute(nint preference, int attribute, void* value, nuint size);

    [LibraryImport(Lib, EntryPoint = "cublasLtMatmulPreferenceDestroy")]
    internal static partial int PreferenceDestroy(nint preference);

    [LibraryImport(Lib, EntryPoint = "cublasLtMatmulAlgoGetHeuristic")]
    internal static partial int AlgoGetHeuristic(nint handle, nint operation, nint aDesc, nint bDesc, nint cDesc,
        nint dDesc, nint preference, int requestedAlgoCount, HeuristicResult* results, out int returnedAlgoCount);

    [LibraryImport(Lib, EntryPoint = "cublasLtMatmul")]
    internal static partial int Matmul(nint handle, nint operation, float* alpha, nint a, nint aDesc, nint b, nint bDesc,
        float* beta, nint c, nint cDesc, nint d, nint dDesc, MatmulAlgo* algo, nint workspace, nuint workspaceBytes,
        nint stream);

    internal static void Check(int status, [CallerArgumentExpression(nameof(status))] string call = "")
    {
        if (status != 0)
            throw new InvalidOperationException($"cuBLASLt call failed with {CuBlasNative.StatusName(status)}: {call}");
    }
}
