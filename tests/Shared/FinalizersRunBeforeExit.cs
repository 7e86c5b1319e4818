[assembly: Xunit.AssemblyFixture(typeof(Speedrun.Tests.Shared.FinalizersRunBeforeExit))]

namespace Speedrun.Tests.Shared;

/// <summary>
/// Runs, once every test of the assembly has finished, the finalizers of what the tests left to the garbage
/// collector (TorchSharp's tensors above all, whose finalizers free libtorch memory). The runtime does not wait
/// for pending finalizers at exit, so without this the finalizer thread can still be inside libtorch while the
/// process tears libtorch's static state down, a crash with no test to blame.
/// </summary>
public sealed class FinalizersRunBeforeExit : IDisposable
{
    public void Dispose()
    {
        for (int pass = 0; pass < 2; pass++) // a finalizer may release more objects with finalizers
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
    }
}
