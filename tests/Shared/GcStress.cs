using System.Runtime.CompilerServices;

namespace Speedrun.Tests.Shared;

/// <summary>
/// A diagnostic, off by default: with SPEEDRUN_GC_STRESS=1 a background thread collects and runs finalizers without
/// pause for the life of the test host. It turns the rare use-after-free of a TorchSharp temporary (a tensor passed
/// straight to a native op, which the optimising JIT lets die once its handle is read) into a near-certain crash or
/// wrong value, so a test oracle with that hazard shows itself in one run instead of one CI in many.
/// </summary>
static class GcStress
{
#pragma warning disable CA2255 // it must run before any test does
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void StartWhenAsked()
    {
        if (Environment.GetEnvironmentVariable("SPEEDRUN_GC_STRESS") != "1") return;
        new Thread(() =>
        {
            while (true) { GC.Collect(); GC.WaitForPendingFinalizers(); }
        }) { IsBackground = true, Name = "gc-stress" }.Start();
    }
}
