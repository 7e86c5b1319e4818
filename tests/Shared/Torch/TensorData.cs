using TTensor = TorchSharp.torch.Tensor;

namespace Speedrun.Tests.Torch;

/// <summary>
/// Reading a TorchSharp tensor's values into an array, with the tensor held alive until the copy ends.
/// </summary>
/// <remarks>
/// <c>t.data&lt;T&gt;().ToArray()</c> on a temporary is a use-after-free waiting to happen: for a 1-D tensor the
/// accessor copies element by element through a raw pointer, boxing each value, and nothing references the tensor
/// during the loop. The optimising JIT (our test hosts run untiered) lets it die there, a GC the boxing causes runs
/// its finalizer, and libtorch frees the storage mid-copy. A clean-clone CI (2026-12-01) read the last values of a
/// 200,001-element float64 reference as 0 that way (KernelMathTests, "5.4e44 ulp at 1").
/// </remarks>
public static class TensorData
{
    /// <summary>The values of a CPU tensor of element type <typeparamref name="T"/>, row-major.</summary>
    public static T[] Read<T>(TTensor t) where T : unmanaged
    {
        var dense = t.contiguous();
        var values = dense.data<T>().ToArray();
        GC.KeepAlive(dense); // dense holds the storage (t's own when t was already contiguous)
        return values;
    }
}
