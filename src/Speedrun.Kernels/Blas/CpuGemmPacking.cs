using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Speedrun.Kernels.Blas;

/// <summary>
/// Copies blocks of op(A) and op(B) into the contiguous panel layout the micro-kernels read, absorbing the
/// transposes: after packing, every GEMM is the same non-transposed product. Panels cut by the edge of the
/// matrix are padded with zeros, so the micro-kernel always runs on full panels.
/// </summary>
internal static unsafe class CpuGemmPacking
{
    /// <summary>
    /// Packs rows [i0, i0 + mc) and depths [p0, p0 + kc) of op(A) into panels of <paramref name="mr"/> rows:
    /// panel q holds, for each k, the mr values A(i0 + q*mr + r, p0 + k), so dst[(q*kc + k)*mr + r].
    /// </summary>
    public static void PackA(float* a, long lda, bool trans, int i0, int mc, int p0, int kc, int mr, float* dst)
    {
        for (int q = 0; q < mc; q += mr, dst += (long)mr * kc)
        {
            int rows = Math.Min(mr, mc - q);
            if (trans)
            {
                // Stored K x M: the mr values for one k are adjacent.
                float* src = a + (long)p0 * lda + i0 + q;
                if (rows == 6 && mr == 6)
                {
                    // The AVX-512 and AVX2 panels: 4 + 2 floats a depth.
                    for (int k = 0; k < kc; k++, src += lda)
                    {
                        float* d = dst + (long)k * 6;
                        Vector128.Store(Vector128.Load(src), d);
                        *(long*)(d + 4) = *(long*)(src + 4);
                    }
                    continue;
                }
                for (int k = 0; k < kc; k++, src += lda)
                {
                    float* d = dst + (long)k * mr;
                    int r = 0;
                    for (; r < rows; r++) d[r] = src[r];
                    for (; r < mr; r++) d[r] = 0f;
                }
            }
            else
            {
                // Stored M x K: row r of the panel is a contiguous run over k.
                Transpose(a + (long)(i0 + q) * lda + p0, lda, rows, kc, dst, mr);
            }
        }
    }

    /// <summary>
    /// Packs depths [p0, p0 + kc) and columns [j0, j0 + nc) of op(B) into panels of <paramref name="nr"/>
    /// columns: panel q holds, for each k, the nr values B(p0 + k, j0 + q*nr + j), so dst[(q*kc + k)*nr + j].
    /// </summary>
    public static void PackB(float* b, long ldb, bool trans, int p0, int kc, int j0, int nc, int nr, float* dst)
    {
        for (int q = 0; q < nc; q += nr, dst += (long)nr * kc)
        {
            int cols = Math.Min(nr, nc - q);
            if (trans)
            {
                // Stored N x K: column j of op(B) is a contiguous run over k.
                Transpose(b + (long)(j0 + q) * ldb + p0, ldb, cols, kc, dst, nr);
            }
            else
            {
                float* src = b + (long)p0 * ldb + j0 + q;
                for (int k = 0; k < kc; k++, src += ldb)
                {
                    var d = new Span<float>(dst + (long)k * nr, nr);
                    new ReadOnlySpan<float>(src, cols).CopyTo(d);
                    d[cols..].Clear();
                }
            }
        }
    }

    /// <summary>
    /// dst[k*ldd + r] = src[r*lds + k] for r &lt; rows, k &lt; cols, and zero for rows &lt;= r &lt; ldd: a rows x cols
    /// block becomes cols rows of ldd values, zero-padded. When ldd &lt; 8 the AVX path writes 8 values per k
    /// in increasing k, so up to 8 - ldd floats past the block are written with scratch values: the caller
    /// packs panels in order (the next panel overwrites them) and leaves that much room after the last.
    /// </summary>
    static void Transpose(float* src, long lds, int rows, int cols, float* dst, int ldd)
    {
        int k0 = 0;
        if (Avx.IsSupported && ldd < 8 && rows <= ldd)
        {
            // A narrow panel (the rows of one A panel): one 8 x 8 transpose per 8 depths, missing rows as zeros.
            var zero = Vector256<float>.Zero;
            for (; k0 + 8 <= cols; k0 += 8)
            {
                float* s = src + k0;
                Transpose8x8(
                    rows > 0 ? Avx.LoadVector256(s) : zero, rows > 1 ? Avx.LoadVector256(s + lds) : zero,
                    rows > 2 ? Avx.LoadVector256(s + 2 * lds) : zero, rows > 3 ? Avx.LoadVector256(s + 3 * lds) : zero,
                    rows > 4 ? Avx.LoadVector256(s + 4 * lds) : zero, rows > 5 ? Avx.LoadVector256(s + 5 * lds) : zero,
                    rows > 6 ? Avx.LoadVector256(s + 6 * lds) : zero, zero,
                    dst + (long)k0 * ldd, ldd);
            }
        }
        else if (Avx.IsSupported)
        {
            // A wide panel (the columns of one B panel): 8 x 8 blocks, then the leftover depths.
            int r0 = 0;
            for (; r0 + 8 <= rows; r0 += 8)
            {
                int k = 0;
                for (; k + 8 <= cols; k += 8)
                {
                    float* s = src + r0 * lds + k;
                    Transpose8x8(Avx.LoadVector256(s), Avx.LoadVector256(s + lds), Avx.LoadVector256(s + 2 * lds),
                        Avx.LoadVector256(s + 3 * lds), Avx.LoadVector256(s + 4 * lds), Avx.LoadVector256(s + 5 * lds),
                        Avx.LoadVector256(s + 6 * lds), Avx.LoadVector256(s + 7 * lds), dst + (long)k * ldd + r0, ldd);
                }
                for (; k < cols; k++)
                    for (int r = r0; r < r0 + 8; r++) dst[(long)k * ldd + r] = src[r * lds + k];
            }
            for (int r = r0; r < rows; r++)
            {
                float* d = dst + r;
                for (int k = 0; k < cols; k++, d += ldd) *d = src[r * lds + k];
            }
            if (rows < ldd)
                for (int k = 0; k < cols; k++)
                    new Span<float>(dst + (long)k * ldd + rows, ldd - rows).Clear();
            return;
        }
        // Scalar: the depths the vector path left (or all of them).
        for (int k = k0; k < cols; k++)
        {
            float* d = dst + (long)k * ldd;
            int r = 0;
            for (; r < rows; r++) d[r] = src[r * lds + k];
            for (; r < ldd; r++) d[r] = 0f;
        }
    }

    /// <summary>Writes the 8 x 8 block whose rows are r0..r7 transposed: column j goes to d + j*ldd.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Transpose8x8(Vector256<float> r0, Vector256<float> r1, Vector256<float> r2, Vector256<float> r3,
        Vector256<float> r4, Vector256<float> r5, Vector256<float> r6, Vector256<float> r7, float* d, int ldd)
    {
        // Interleave pairs of rows, then pairs of pairs: each 128-bit lane then holds 4 rows of one column.
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
        var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44); var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44); var u7 = Avx.Shuffle(t5, t7, 0xEE);
        // Join the low lanes (columns 0-3) and the high lanes (columns 4-7) of rows 0-3 and 4-7.
        // Stored in increasing column order, so overlapping stores (ldd < 8) keep every real value.
        Avx.Store(d, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(d + ldd, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(d + 2 * ldd, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(d + 3 * ldd, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(d + 4 * ldd, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(d + 5 * ldd, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(d + 6 * ldd, Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(d + 7 * ldd, Avx.Permute2x128(u3, u7, 0x31));
    }
}
