using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Speedrun.Kernels.Ops;

// One fused AdamW step on one parameter tensor, with torch.optim.AdamW's semantics (step t is 1-based):
//
//   g  = grad * gradScale[0]                       (the clip factor, read on the device)
//   p  = p * (1 - lr * wd)                         (decoupled weight decay)
//   m  = beta1 * m + (1 - beta1) * g
//   v  = beta2 * v + (1 - beta2) * g^2
//   p  = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
//
// param, m and v are updated in place; grad is only read. The scalar coefficients are computed on the host in
// double precision and passed as floats, as PyTorch does with its Python-float hyper-parameters.

/// <summary>Hyper-parameters of one AdamW step; <see cref="Step"/> counts from 1.</summary>
internal readonly record struct AdamWStep(double Lr, double Beta1, double Beta2, double Eps, double WeightDecay, int Step);

internal static class AdamWKernelMethods
{
    /// <summary>The fused update; see the file header. decay = 1 - lr*wd, stepSize = lr / (1 - beta1^t),
    /// rootCorrection2 = sqrt(1 - beta2^t).</summary>
    [Kernel]
    internal static void StepKernel(ArrayView<float> param, ArrayView<float> grad, ArrayView<float> m,
        ArrayView<float> v, ArrayView<float> gradScale, AdamWCoefficients k)
    {
        float scale = gradScale[0];
        int iEnd = param.IntLength, iStride = Threads.Count; // hoisted: each read is a call on the CPU accelerator
        for (int i = Threads.Index; i < iEnd; i += iStride)
        {
            float g = grad[i] * scale;
            float p = param[i] * k.Decay;
            float mi = k.Beta1 * m[i] + k.OneMinusBeta1 * g;
            float vi = k.Beta2 * v[i] + k.OneMinusBeta2 * (g * g);
            float denominator = XMath.Sqrt(vi) / k.RootCorrection2 + k.Eps;
            param[i] = p - k.StepSize * (mi / denominator);
            m[i] = mi;
            v[i] = vi;
        }
    }

    /// <summary>The step's scalars, as floats (one kernel parameter). Public because ILGPU's CPU backend builds
    /// its launcher in a separate dynamic assembly that must see every parameter type.</summary>
    public readonly struct AdamWCoefficients(float decay, float beta1, float oneMinusBeta1, float beta2,
        float oneMinusBeta2, float stepSize, float rootCorrection2, float eps)
    {
        public readonly float Decay = decay;
        public readonly float Beta1 = beta1;
        public readonly float OneMinusBeta1 = oneMinusBeta1;
        public readonly float Beta2 = beta2;
        public readonly float OneMinusBeta2 = oneMinusBeta2;
        public readonly float StepSize = stepSize;
        public readonly float RootCorrection2 = rootCorrection2;
        public readonly float Eps = eps;
    }
}

/// <summary>Loaded AdamW kernel for one device; every method checks shapes before launching.</summary>
internal sealed class AdamWKernels
{
    readonly Runtime.Device _device;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, AdamWKernelMethods.AdamWCoefficients> _step;

    public AdamWKernels(Runtime.Device device)
    {
        _device = device;
        _step = device.Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, AdamWKernelMethods.AdamWCoefficients>(AdamWKernelMethods.StepKernel);
    }

    /// <summary>One AdamW step: param, m, v updated in place from grad * gradScale[0].</summary>
    public void Step(ArrayView<float> param, ArrayView<float> grad, ArrayView<float> m, ArrayView<float> v,
        AdamWStep hp, ArrayView<float> gradScale)
    {
        const string op = "AdamW.Step";
        Shapes.SameLength(op, param, grad);
        Shapes.SameLength(op, param, m);
        Shapes.SameLength(op, param, v);
        Shapes.Expect(op, gradScale, "gradScale", ("1", 1));
        if (hp.Step < 1)
            throw new ArgumentException($"{op}: the step count starts at 1, got {hp.Step}.");
        if (!(hp.Beta1 >= 0 && hp.Beta1 < 1) || !(hp.Beta2 >= 0 && hp.Beta2 < 1))
            throw new ArgumentException($"{op}: betas must lie in [0, 1), got ({hp.Beta1}, {hp.Beta2}).");
        if (!(hp.Lr >= 0) || !(hp.Eps >= 0) || !(hp.WeightDecay >= 0))
            throw new ArgumentException(
                $"{op}: lr, eps and weight decay must be >= 0, got lr={hp.Lr}, eps={hp.Eps}, wd={hp.WeightDecay}.");

        double correction1 = 1 - Math.Pow(hp.Beta1, hp.Step);
        double correction2 = 1 - Math.Pow(hp.Beta2, hp.Step);
        var k = new AdamWKernelMethods.AdamWCoefficients(
            decay: (float)(1 - hp.Lr * hp.WeightDecay),
            beta1: (float)hp.Beta1, oneMinusBeta1: (float)(1 - hp.Beta1),
            beta2: (float)hp.Beta2, oneMinusBeta2: (float)(1 - hp.Beta2),
            stepSize: (float)(hp.Lr / correction1),
            rootCorrection2: (float)Math.Sqrt(correction2),
            eps: (float)hp.Eps);
        if (_device.RunsOnHost) HostSimd.AdamW(param, grad, m, v, HostSimd.Span(gradScale)[0], k);
        else _step(_device.Launch.For(param.Length), param, grad, m, v, gradScale, k);
    }
}

internal static class AdamWOps
{
    public static AdamWKernels AdamW(this Runtime.Device d) => d.Kernels(static d => new AdamWKernels(d));
}
