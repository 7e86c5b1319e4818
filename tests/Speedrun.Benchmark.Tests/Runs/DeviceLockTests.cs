using Speedrun.Benchmark.Runs;
using Speedrun.Tests.Shared;

namespace Speedrun.Benchmark.Tests.Runs;

/// <summary>One timed run per device: a second run waits, says for whom, and goes once the first is done.</summary>
public sealed class DeviceLockTests : IDisposable
{
    readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    DeviceLock Take(string device, string what, Action<string>? onWait = null, CancellationToken cancel = default) =>
        DeviceLock.Acquire(device, what, onWait, cancel, _dir.Path);

    [Fact]
    public async Task A_second_run_of_the_device_waits_for_the_first()
    {
        var first = Take("cpu", "run-A");
        var said = new List<string>();
        var second = Task.Run(() => Take("cpu", "run-B", m => { lock (said) said.Add(m); }));
        await Task.Delay(1500);
        Assert.False(second.IsCompleted, "the second run took the device while the first held it");
        lock (said) Assert.Equal(["waiting for the cpu device: it is timing run-A"], said.Select(s => s[..s.IndexOf(" (pid", StringComparison.Ordinal)]));

        // Another device is free meanwhile.
        using (Take("cuda", "run-C")) { }

        first.Dispose();
        using var got = await second.WaitAsync(TimeSpan.FromSeconds(10)); // throws TimeoutException if it never got it
    }

    [Fact]
    public void Waiting_can_be_cancelled()
    {
        using var first = Take("cpu", "run-A");
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(1.5));
        Assert.ThrowsAny<OperationCanceledException>(() => Take("cpu", "run-B", cancel: cancel.Token));
    }

    [Fact]
    public void Conditions_round_trip_and_flag_other_work()
    {
        var busy = new RunConditions(0.75, 0.01, 1.5, 2);
        Assert.Equal(busy, RunConditions.FromJson(busy.ToJson()));
        Assert.True(busy.UnderLoad);
        Assert.False((busy with { OtherCores = 0.05 }).UnderLoad);
        Assert.Null(RunConditions.FromJson(null));
    }
}
