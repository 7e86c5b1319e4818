using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Speedrun.Kernels.Ops;

// Global gradient norm and the clipping factor, as torch.nn.utils.clip_grad_norm_ (norm type 2):
//
//   norm  = sqrt(sum over tensors, in list order, of sum(g^2))    each tensor's sum is a deterministic
//                                                                 Reduction.SumOfSquares
//   scale = min(1, maxNorm / (norm + 1e-6))                        PyTorch's clip coefficient, clamped
//
//   g    *= scale                                                 in place, each gradient (Clip)
//
// All of it stays on the device, so the training loop never waits for the host. Clip returns at once when
// scale is exactly 1 (the usual case once training settles: multiplying by 1 changes no bit, so this is
// the same result without the pass). A NaN norm gives a NaN scale and NaN gradients, as in PyTorch.

internal static class GradNormKernelMethods
{
    /// <summary>norm[0] = sqrt(sum of sumsOfSquares in order).</summary>
    [Kernel]
    internal static void CombineKernel(ArrayView<float> sumsOfSquares, ArrayView<float> norm)
    {
        int iEnd = 1, iStride = Threads.Count; // hoisted: each read is a call on the CPU accelerator
        for (int i = Threads.Index; i < iEnd; i += iStride)
        {
            float total = 0f;
            for (int t = 0; t < sumsOfSquares.IntLength; t++) total += sumsOfSquares[t];
            norm[0] = XMath.Sqrt(total);
        }
    }

    /// <summary>scale[0] = min(1, maxNorm / (norm[0] + 1e-6)); NaN stays NaN.</summary>
    [Kernel]
    internal static void ClipScaleKernel(ArrayView<float> norm, float maxNorm, ArrayView<float> scale)
    {
        int iEnd = 1, iStride = Threads.Count; // hoisted: each read is a call on the CPU accelerator
        for (int i = Threads.Index; i < iEnd; i += iStride)
        {
            float coefficient = maxNorm / (norm[0] + 1e-6f);
            scale[0] = coefficient >= 1f ? 1f : coefficient;
        }
    }
}

/// <summary>Clip: g *= scale[0], skipped entirely when scale[0] == 1.</summary>
internal static class GradClipKernelMethods
{
    [Kernel]
    internal static void ClipKernel(ArrayView<float> grad, ArrayView<float> scale)
    {
        float s = scale[0];
        if (s == 1f) return;
        int iEnd = grad.IntLength, iStride = Threads.Count;
        for (int i = Threads.Index; i < iEnd; i += iStride) grad[i] *= s;
    }
}

/// <summary>Loaded gradient-norm kernels for one device; every method checks shapes before launching.</summary>
internal sealed class GradNormKernels
{
    readonly Runtime.Device _device;
    readonly ReductionKernels _reduction;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>> _combine;
    readonly Action<KernelConfig, ArrayView<float>, float, ArrayView<float>> _clipScale;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>> _clip;

    public GradNormKernels(Runtime.Device device)
    {
        _device = device;
        _reduction = device.Reduction();
        var acc = device.Accelerator;
        _combine = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>>(GradNormKernelMethods.CombineKernel);
        _clipScale = acc.LoadStreamKernel<ArrayView<float>, float, ArrayView<float>>(GradNormKernelMethods.ClipScaleKernel);
        _clip = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>>(GradClipKernelMethods.ClipKernel);
    }

    /// <summary>grad *= scale[0] in place (nothing runs when the scale is 1).</summary>
    public void Clip(ArrayView<float> grad, ArrayView<float> scale)
    {
        Shapes.Expect("GradNorm.Clip", scale, "scale", ("1", 1));
        if (grad.Length == 0) return;
        if (_device.RunsOnHost)
        {
            float s = HostSimd.Span(scale)[0];
            if (s != 1f) HostSimd.Scale(grad, s, grad);
            return;
        }
        _clip(_device.Launch.For(grad.Length), grad, scale);
    }

    /// <summary>norm[0] = the L2 norm of all gradients together (deterministic; see the file header).</summary>
    public void GlobalNorm(IReadOnlyList<ArrayView<float>> grads, ArrayView<float> norm)
    {
        const string op = "GradNorm.GlobalNorm";
        ArgumentNullException.ThrowIfNull(grads);
        Shapes.Expect(op, norm, "norm", ("1", 1));
        for (int t = 0; t < grads.Count; t++)
            if (grads[t].Length > ReductionKernels.MaxLength)
                throw new ArgumentException(
                    $"{op}: grads[{t}] has {grads[t].Length} elements; at most {ReductionKernels.MaxLength} are supported.");
        using var sums = _device.Pool.Rent<float>(grads.Count);
        for (int t = 0; t < grads.Count; t++) _reduction.SumOfSquares(grads[t], sums.View.SubView(t, 1));
        _combine(_device.Launch.For(1), sums.View, norm);
    }

    /// <summary>scale[0] = min(1, maxNorm / (norm[0] + 1e-6)), computed on the device.</summary>
    public void ClipScale(ArrayView<float> norm, float maxNorm, ArrayView<float> scale)
    {
        const string op = "GradNorm.ClipScale";
        Shapes.Expect(op, norm, "norm", ("1", 1));
        Shapes.Expect(op, scale, "scale", ("1", 1));
        if (!(maxNorm > 0f))
            throw new ArgumentException($"{op}: maxNorm must be positive, got {maxNorm}.");
        _clipScale(_device.Launch.For(1), norm, maxNorm, scale);
    }
}

internal static class GradNormOps
{
    public static GradNormKernels GradNorm(this Runtime.Device d) => d.Kernels(static d => new GradNormKernels(d));
}
