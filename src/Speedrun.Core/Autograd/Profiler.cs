namespace Speedrun.Core.Autograd;

/// <summary>
/// Per-op device time for a profile run (`speedrun doctor --profile`): while a profiler is active on this
/// thread, every differentiable op, its backward and the optimizer record a span between two device markers;
/// <see cref="Summary"/> waits once and totals them by name. Off (and free) in timed runs.
/// </summary>
public sealed class Profiler : IDisposable
{
    [ThreadStatic] static Profiler? _active;
    readonly Device _device;
    readonly List<(string Name, Kernels.Runtime.DeviceMarker Start, Kernels.Runtime.DeviceMarker End)> _spans = new();

    Profiler(Device device) => _device = device;

    /// <summary>Starts profiling on this thread.</summary>
    public static Profiler Start(Device device)
    {
        if (_active is not null) throw new InvalidOperationException("A profiler is already active on this thread.");
        return _active = new Profiler(device);
    }

    /// <summary>Whether a profiler runs on this thread.</summary>
    public static bool IsActive => _active is not null;

    /// <summary>Opens a span named <paramref name="name"/> when a profiler is active; a no-op otherwise.</summary>
    public static Span Op(string name) => _active is { } p ? new Span(p, name, p._device.Mark()) : default;

    /// <summary>One timed span; dispose it to close it.</summary>
    public readonly struct Span : IDisposable
    {
        readonly Profiler? _profiler;
        readonly string _name;
        readonly Kernels.Runtime.DeviceMarker? _start;

        internal Span(Profiler profiler, string name, Kernels.Runtime.DeviceMarker start) =>
            (_profiler, _name, _start) = (profiler, name, start);

        /// <summary>Closes the span.</summary>
        public void Dispose()
        {
            if (_profiler is null) return;
            _profiler._spans.Add((_name, _start!, _profiler._device.Mark()));
        }
    }

    /// <summary>Total milliseconds and count per span name, largest first.</summary>
    public IReadOnlyList<(string Name, int Count, double TotalMs)> Summary() =>
        _spans.GroupBy(s => s.Name)
            .Select(g => (g.Key, g.Count(), g.Sum(s => s.Start.MillisecondsTo(s.End))))
            .OrderByDescending(x => x.Item3)
            .ToList();

    /// <summary>Stops profiling and frees the markers.</summary>
    public void Dispose()
    {
        foreach (var (_, a, b) in _spans) { a.Dispose(); b.Dispose(); }
        _spans.Clear();
        if (ReferenceEquals(_active, this)) _active = null;
    }
}
