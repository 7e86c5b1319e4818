namespace Speedrun.Benchmark.Runs;

/// <summary>Measures a run folder every second while its program runs, and fires <see cref="Exceeded"/> once the
/// folder holds more than its limit (a program that fills the disk is stopped, not the machine).</summary>
public sealed class FolderWatch : IDisposable
{
    readonly CancellationTokenSource _exceeded = new();
    readonly Timer _timer;

    public FolderWatch(string folder, long maxBytes)
    {
        _timer = new Timer(_ =>
        {
            try
            {
                long bytes = new DirectoryInfo(folder).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);
                if (bytes > maxBytes) _exceeded.Cancel();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException)
            {
                // a file vanished mid-count: measure again next time
            }
        }, null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    /// <summary>Cancelled once the folder has passed its limit.</summary>
    public CancellationToken Exceeded => _exceeded.Token;

    public void Dispose()
    {
        _timer.Dispose();
        _exceeded.Dispose();
    }
}
