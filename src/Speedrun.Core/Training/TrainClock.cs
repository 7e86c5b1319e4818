using Speedrun.Kernels.Runtime;

namespace Speedrun.Core.Training;

/// <summary>
/// The one timing rule for every record (stated here, used by RunContext):
/// train_time is device-synchronised time spent in training steps (CUDA events on the GPU, a
/// synchronised monotonic clock on the CPU), counting data loading, the optimizer and logging, and
/// excluding validation and the first <see cref="UntimedSteps"/> steps (kernel compilation and warm-up),
/// as the records from 4 on exclude their first 10 steps. step_avg = train_time / timed steps so far.
/// </summary>
internal sealed class TrainClock : IDisposable
{
    public const int UntimedSteps = 10;

    readonly IDeviceTimer _timer;
    double _accumulatedMs;
    bool _running;

    public TrainClock(Device device) => _timer = device.CreateTimer();

    /// <summary>Training time so far, in milliseconds (synchronises when the clock runs).</summary>
    public double ElapsedMs => _running ? _accumulatedMs + _timer.StopMilliseconds() : _accumulatedMs;

    /// <summary>Steps whose time is counted among the first <paramref name="stepsDone"/>.</summary>
    public static int TimedSteps(int stepsDone) => Math.Max(0, stepsDone - UntimedSteps);

    /// <summary>Called as step <paramref name="step"/> begins: starts (or restarts after validation) the clock
    /// once the untimed warm-up steps are over.</summary>
    public void StepStarting(int step)
    {
        if (step < UntimedSteps || _running) return;
        _timer.Start();
        _running = true;
    }

    /// <summary>Stops the clock (before validation); it restarts with the next step.</summary>
    public void Pause()
    {
        if (!_running) return;
        _accumulatedMs += _timer.StopMilliseconds();
        _running = false;
    }

    public void Dispose() => _timer.Dispose();
}
