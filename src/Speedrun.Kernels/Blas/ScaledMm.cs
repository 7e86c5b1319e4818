using System.Buffers;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using Speedrun.Kernels.Native;
using Speedrun.Kernels.Numerics;
using Speedrun.Kernels.Ops;
using static Speedrun.Kernels.Native.CuBlasLtNative;

namespace Speedrun.Kernels.Blas;

/// <summary>
/// torch._scaled_mm with per-tensor scales and an fp32 output:
/// <c>C[M,N] = (decode(A)·decode(B)) · scaleA · scaleB</c>, accumulated in fp32.
/// Layout (torch's, in row-major words): A is (M, K) row-major; B is passed as Bᵀ, an (N, K) row-major buffer,
/// which is the column-major (K, N) matrix torch wants as its second operand (<c>w.t()</c> of an (N, K) weight).
/// scaleA and scaleB are one-element fp32 device buffers holding the <em>dequantization</em> scales (the inverses of
/// the factors the operands were multiplied by before the cast), as in torch. K and N must be multiples of 16
/// (cuBLASLt's fp8 rule, which torch enforces too); the same check runs on the CPU so a program behaves alike on
/// both devices. E5M2 × E5M2 is rejected (cuBLASLt has no such kernel).
/// <list type="bullet">
/// <item>CPU: exact emulation: both operands decoded to fp32 (exact), then the managed fp32 GEMM with
/// alpha = scaleA·scaleB. useFastAccum is ignored (the CPU always accumulates in fp32).</item>
/// <item>CUDA: cuBLASLt, compute 32F, "TN" layout, scales through A/B_SCALE_POINTER, FAST_ACCUM when asked. Needs
/// compute capability 8.9 or newer (Ada, Hopper).</item>
/// </list>
/// </summary>
internal static unsafe class ScaledMm
{
    public static void Run(Runtime.Device device, ArrayView<byte> a, Float8Format aFormat, ArrayView<byte> bT,
        Float8Format bFormat, int m, int n, int k, ArrayView<float> scaleA, ArrayView<float> scaleB,
        ArrayView<float> c, bool useFastAccum)
    {
        Validate(m, n, k, aFormat, bFormat);
        Shapes.Expect("ScaledMatmul", a, "a", ("M", m), ("K", k));
        Shapes.Expect("ScaledMatmul", bT, "b (given as bᵀ)", ("N", n), ("K", k));
        Shapes.Expect("ScaledMatmul", c, "out", ("M", m), ("N", n));
        if (scaleA.Length != 1 || scaleB.Length != 1)
            throw new ArgumentException($"ScaledMatmul: scaleA and scaleB must hold one fp32 value each (per-tensor scales), got {scaleA.Length} and {scaleB.Length}.");
        if (m == 0 || n == 0) return;
        if (device.IsCuda) device.Kernels(static d => new CuBlasLtFp8(d)).Run(a, aFormat, bT, bFormat, m, n, k, scaleA, scaleB, c, useFastAccum);
        else RunOnHost(a, aFormat, bT, bFormat, m, n, k, scaleA, scaleB, c);
    }

    internal static void Validate(int m, int n, int k, Float8Format aFormat, Float8Format bFormat)
    {
        if (m < 0 || n < 0 || k < 0) throw new ArgumentException($"ScaledMatmul: negative size M={m} N={n} K={k}.");
        if (k % 16 != 0 || n % 16 != 0)
            throw new ArgumentException(
                $"ScaledMatmul: K={k} and N={n} must be multiples of 16 (cuBLASLt's fp8 layout rule, as torch._scaled_mm); pad the operands.");
        if (aFormat == Float8Format.E5M2 && bFormat == Float8Format.E5M2)
            throw new ArgumentException("ScaledMatmul: E5M2 x E5M2 is not supported (cuBLASLt has no such kernel); make one operand E4M3.");
    }

    /// <summary>The CPU device: decode both operands (exact), one fp32 GEMM C = (scaleA·scaleB)·A·(Bᵀ)ᵀ.</summary>
    static void RunOnHost(ArrayView<byte> a, Float8Format aFormat, ArrayView<byte> bT, Float8Format bFormat,
        int m, int n, int k, ArrayView<float> scaleA, ArrayView<float> scaleB, ArrayView<float> c)
    {
        float alpha = *(float*)scaleA.LoadEffectiveAddressAsPtr() * *(float*)scaleB.LoadEffectiveAddressAsPtr();
        var wa = Decode(a, aFormat);
        var wb = Decode(bT, bFormat);
        try
        {
            fixed (float* pa = wa, pb = wb)
                CpuGemm.Run(Gemm.Dense(false, true, m, n, k, alpha: alpha), pa, pb, (float*)c.LoadEffectiveAddressAsPtr());
        }
        finally
        {
            ArrayPool<float>.Shared.Return(wa);
            ArrayPool<float>.Shared.Return(wb);
        }
    }

    /// <summary>The exact fp32 values of v in a pooled array (at least v's length; return it): a gradient of
    /// logits is hundreds of MB, too much to allocate afresh for every product.</summary>
    static float[] Decode(ArrayView<byte> v, Float8Format format)
    {
        var src = new ReadOnlySpan<byte>((void*)v.LoadEffectiveAddressAsPtr(), v.IntLength);
        var dst = ArrayPool<float>.Shared.Rent(src.Length);
        if (format == Float8Format.E4M3) Float8Spans.DecodeE4M3(src, 1f, dst.AsSpan(0, src.Length));
        else Float8Spans.DecodeE5M2(src, 1f, dst.AsSpan(0, src.Length));
        return dst;
    }
}

/// <summary>
/// The fp8 GEMM on CUDA through cuBLASLt (one handle and a 32 MiB workspace per device, made on first use).
/// cuBLASLt is column-major and its fp8 kernels want the "TN" form: D = Aᵀ·B. Read column-major, our row-major
/// output (M×N) is the N×M matrix (a·b)ᵀ = bᵀ·aᵀ, so: cuBLASLt's A is our bᵀ buffer seen as a column-major K×N
/// matrix (ld K, i.e. b itself) with TRANSA = T; cuBLASLt's B is our a buffer seen as a column-major K×M matrix
/// (ld K, i.e. aᵀ) with TRANSB = N; D is column-major N×M (ld N), the same bytes as row-major M×N. Hence
/// cuBLASLt's A-scale is our scaleB and its B-scale our scaleA (the product is the same either way).
/// </summary>
internal sealed unsafe class CuBlasLtFp8 : IDisposable
{
    const long WorkspaceBytes = 32L << 20;
    readonly Runtime.Device _device;
    readonly nint _handle;
    readonly MemoryBuffer1D<byte, Stride1D.Dense> _workspace;

    public CuBlasLtFp8(Runtime.Device device)
    {
        _device = device;
        var cuda = (CudaAccelerator)device.Accelerator;
        var arch = cuda.Architecture;
        if (arch.Major < 8 || (arch.Major == 8 && arch.Minor < 9))
            throw new NotSupportedException(
                $"ScaledMatmul (fp8 GEMM) needs a GPU of compute capability 8.9 or newer (Ada, Hopper); {cuda.Name} is " +
                $"{arch.Major}.{arch.Minor}. Run the fp8 path on the CPU device, or keep this matmul in bf16 on this GPU.");
        var lib = NativeLibraries.Require(NativeLibraries.CuBlasLt);
        device.Accelerator.Bind();
        Check(Create(out _handle));
        _workspace = device.Accelerator.Allocate1D<byte>(WorkspaceBytes);
        Description = $"cuBLASLt {GetVersion()} from {lib.LoadedFrom}";
    }

    public string Description { get; }

    public void Run(ArrayView<byte> a, Float8Format aFormat, ArrayView<byte> bT, Float8Format bFormat,
        int m, int n, int k, ArrayView<float> scaleA, ArrayView<float> scaleB, ArrayView<float> c, bool useFastAccum)
    {
        _device.Accelerator.Bind();
        if (k == 0)
        {
            c.MemSetToZero(_device.Stream);
            return;
        }
        nint pa = a.LoadEffectiveAddressAsPtr(), pb = bT.LoadEffectiveAddressAsPtr(), pc = c.LoadEffectiveAddressAsPtr();
        if ((pa | pb | pc) % 16 != 0)
            throw new ArgumentException("ScaledMatmul: cuBLASLt's fp8 GEMM needs 16-byte aligned operands; a view starts mid-way (use whole tensors or 16-byte aligned row slices).");
        nint sa = scaleA.LoadEffectiveAddressAsPtr(), sb = scaleB.LoadEffectiveAddressAsPtr();

        nint op = 0, layoutA = 0, layoutB = 0, layoutD = 0, preference = 0;
        try
        {
            Check(MatmulDescCreate(out op, Compute32F, R32F));
            int transA = OpT, transB = OpN;
            Check(MatmulDescSetAttribute(op, DescTransA, &transA, sizeof(int)));
            Check(MatmulDescSetAttribute(op, DescTransB, &transB, sizeof(int)));
            Check(MatmulDescSetAttribute(op, DescAScalePointer, &sb, (nuint)sizeof(nint))); // cuBLASLt's A is our bᵀ
            Check(MatmulDescSetAttribute(op, DescBScalePointer, &sa, (nuint)sizeof(nint)));
            sbyte fast = useFastAccum ? (sbyte)1 : (sbyte)0;
            Check(MatmulDescSetAttribute(op, DescFastAccum, &fast, sizeof(sbyte)));

            Check(MatrixLayoutCreate(out layoutA, TypeOf(bFormat), (ulong)k, (ulong)n, k));
            Check(MatrixLayoutCreate(out layoutB, TypeOf(aFormat), (ulong)k, (ulong)m, k));
            Check(MatrixLayoutCreate(out layoutD, R32F, (ulong)n, (ulong)m, n)); // C and D share it (beta = 0)

            Check(PreferenceCreate(out preference));
            ulong workspace = (ulong)WorkspaceBytes;
            Check(PreferenceSetAttribute(preference, PrefMaxWorkspaceBytes, &workspace, sizeof(ulong)));
            HeuristicResult result;
            Check(AlgoGetHeuristic(_handle, op, layoutA, layoutB, layoutD, layoutD, preference, 1, &result, out int found));
            if (found == 0)
                throw new NotSupportedException(
                    $"cuBLASLt found no fp8 GEMM algorithm for M={m} N={n} K={k} ({aFormat} x {bFormat} -> fp32) on {_device.Name}.");

            float alpha = 1f, beta = 0f;
            Check(Matmul(_handle, op, &alpha, pb, layoutA, pa, layoutB, &beta, pc, layoutD, pc, layoutD,
                &result.Algo, _workspace.NativePtr, (nuint)WorkspaceBytes, _device.CudaStreamHandle));
        }
        finally
        {
            if (preference != 0) PreferenceDestroy(preference);
            if (layoutD != 0) MatrixLayoutDestroy(layoutD);
            if (layoutB != 0) MatrixLayoutDestroy(layoutB);
            if (layoutA != 0) MatrixLayoutDestroy(layoutA);
            if (op != 0) MatmulDescDestroy(op);
        }
    }

    static int TypeOf(Float8Format format) => format == Float8Format.E4M3 ? R8FE4M3 : R8FE5M2;

    public void Dispose()
    {
        _device.Accelerator.Bind();
        Destroy(_handle);
        _workspace.Dispose();
    }
}
