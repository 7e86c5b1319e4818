namespace Speedrun.Benchmark.Runs;

/// <summary>
/// One timed run per device at a time, across every speedrun process on the machine: a run holds an exclusive lock
/// on `speedrun-DEVICE.lock` (in <see cref="DirectoryVar"/>, default the system temp folder) from its compile to the
/// end of its evaluation, and another run of the same device waits, saying who holds it. Two runs sharing a device
/// would time each other.
/// </summary>
public sealed class DeviceLock : IDisposable
{
    /// <summary>Where the lock files live (tests give each repository its own).</summary>
    public const string DirectoryVar = "SPEEDRUN_LOCK_DIR";

    readonly FileStream _file;
    readonly string _ownerPath;

    DeviceLock(FileStream file, string ownerPath) => (_file, _ownerPath) = (file, ownerPath);

    /// <summary>Waits for and takes the lock of <paramref name="device"/> ("cpu", "cuda", ...); says once, through
    /// <paramref name="onWait"/>, that it is waiting and for whom.</summary>
    public static DeviceLock Acquire(string device, string what, Action<string>? onWait, CancellationToken cancel, string? directory = null)
    {
        var dir = directory
                  ?? (Environment.GetEnvironmentVariable(DirectoryVar) is { Length: > 0 } d ? d : Path.Combine(Path.GetTempPath(), "speedrun-locks"));
        Directory.CreateDirectory(dir);
        var name = string.Concat(device.Select(c => char.IsLetterOrDigit(c) ? c : '_'));
        var path = Path.Combine(dir, $"speedrun-{name}.lock");
        var ownerPath = path + ".owner";
        bool said = false;
        while (true)
        {
            try
            {
                // FileShare.None is an exclusive advisory lock between .NET processes on Linux (flock).
                var file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
                File.WriteAllText(ownerPath, $"{what} (pid {Environment.ProcessId}, since {DateTime.Now:HH:mm:ss})");
                return new DeviceLock(file, ownerPath);
            }
            catch (IOException)
            {
                if (!said)
                {
                    string owner;
                    try { owner = File.ReadAllText(ownerPath); }
                    catch (IOException) { owner = "another speedrun process"; }
                    onWait?.Invoke($"waiting for the {device} device: it is timing {owner}");
                    said = true;
                }
                if (cancel.WaitHandle.WaitOne(TimeSpan.FromSeconds(1))) cancel.ThrowIfCancellationRequested();
            }
        }
    }

    public void Dispose()
    {
        try { File.Delete(_ownerPath); } catch (IOException) { }
        _file.Dispose();
    }
}
