using TorchSharp;
using static TorchSharp.torch;

namespace Speedrun.Kernels.Tests.Ops;

/// <summary>Float64 references from libtorch: forward values and autograd gradients.</summary>
internal static class TorchReference
{
    /// <summary>
    /// Runs <paramref name="f"/> on differentiable copies of the inputs, backpropagates
    /// <paramref name="dy"/>, and returns the output and the gradient of each input.
    /// </summary>
    public static (Tensor Output, Tensor[] Grads) Backprop(Func<Tensor[], Tensor> f, Tensor dy, params Tensor[] inputs)
    {
        var leaves = inputs.Select(t => t.detach().clone().requires_grad_()).ToArray();
        var output = f(leaves);
        output.backward([dy]);
        return (output.detach(), leaves.Select(l => l.grad!.detach().clone()).ToArray());
    }

    /// <summary>Bit patterns, for bit-identity checks.</summary>
    public static int[] Bits(float[] values) => values.Select(BitConverter.SingleToInt32Bits).ToArray();
}
