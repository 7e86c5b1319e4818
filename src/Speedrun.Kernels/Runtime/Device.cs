using ILGPU;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using Speedrun.Kernels.Blas;
using Speedrun.Kernels.Native;

namespace Speedrun.Kernels.Runtime;

/// <summary>
/// The one owner of the ILGPU context and accelerator: CUDA when present (or asked for), else the CPU
/// accelerator. Also owns the stream everything runs on, the memory pool, the BLAS and kernel caches.
/// </summary>
public sealed class Device : IDisposable
{
    readonly Dictionary<Type, object> _kernelFamilies = new();
    IBlas? _blas;

    Device(Context context, Accelerator accelerator, DeviceKind kind, bool warpRowsOnCpu = false)
    {
        // The plain CPU device runs simple element-wise ops as SIMD loops on the host (Ops/HostSimd.cs); the
        // warp-row test device runs every ILGPU kernel, so the tests also cover the code CUDA runs.
        RunsOnHost = kind == DeviceKind.Cpu && !warpRowsOnCpu;
        Context = context;
        Accelerator = accelerator;
        Kind = kind;
        Stream = accelerator.DefaultStream;
        Pool = new MemoryPool(accelerator);
        Launch = kind == DeviceKind.Cpu
            // CPU: every simulated thread is an OS-thread switch; one warp per core keeps launches cheap.
            ? new LaunchShape(Math.Max(1, Environment.ProcessorCount), accelerator.WarpSize, RowLanes: warpRowsOnCpu ? accelerator.WarpSize : 1)
            // CUDA: 256-thread groups, 8 per multiprocessor (2048 resident threads per SM on Hopper).
            : new LaunchShape(accelerator.NumMultiprocessors * 8, 256, RowLanes: accelerator.WarpSize);
    }

    /// <summary>The ILGPU context (compiler settings, the Algorithms library).</summary>
    public Context Context { get; }
    /// <summary>The ILGPU accelerator: load kernels from it (<c>Accelerator.LoadStreamKernel</c>).</summary>
    public Accelerator Accelerator { get; }
    /// <summary>CPU or CUDA.</summary>
    public DeviceKind Kind { get; }
    /// <summary>The one stream every kernel, copy and GEMM runs on, in order.</summary>
    public AcceleratorStream Stream { get; }
    /// <summary>The caching allocator tensors rent from.</summary>
    public MemoryPool Pool { get; }
    /// <summary>Grid sizes for grid-stride kernels on this device: launch with <c>Launch.For(n)</c>.</summary>
    public LaunchShape Launch { get; }

    /// <summary>Whether kernel families may run an op as a host SIMD loop instead of an ILGPU kernel (the CPU
    /// accelerator's memory is host memory and its launches are synchronous, so order is kept).</summary>
    internal bool RunsOnHost { get; }

    /// <summary>True on a CUDA device.</summary>
    public bool IsCuda => Kind == DeviceKind.Cuda;
    /// <summary>The accelerator's name.</summary>
    public string Name => Accelerator.Name;
    /// <summary>Device memory in bytes.</summary>
    public long MemoryBytes => Accelerator.MemorySize;

    /// <summary>GEMMs: cuBLAS on CUDA, the managed SIMD GEMM on the CPU. Created on first use.</summary>
    public IBlas Blas => _blas ??= IsCuda
        ? new Blas.CuBlas(this)
        : new CpuBlas();

    /// <summary>
    /// Opens a device. <paramref name="kind"/> null means: the SPEEDRUN_DEVICE variable if set, else CUDA
    /// when a CUDA device is visible, else the CPU.
    /// </summary>
    public static Device Create(DeviceKind? kind = null)
    {
        kind ??= DeviceKinds.Parse(Environment.GetEnvironmentVariable("SPEEDRUN_DEVICE"));
        if (kind == DeviceKind.Cpu) return CreateCpu();

        NativeLibraries.EnsureResolvers();
        var driver = NativeLibraries.Load(NativeLibraries.CudaDriver);
        if (!driver.Success)
        {
            if (kind == DeviceKind.Cuda) NativeLibraries.Require(NativeLibraries.CudaDriver); // throws, listing paths
            return CreateCpu();
        }

        var context = Context.Create(b => b.Cuda().EnableAlgorithms().Optimize(OptimizationLevel.O1));
        var devices = context.GetCudaDevices();
        if (devices.Count == 0)
        {
            context.Dispose();
            if (kind == DeviceKind.Cuda)
                throw new InvalidOperationException(
                    $"The CUDA driver loaded from {driver.LoadedFrom}, but ILGPU found no usable CUDA device " +
                    "(none present, or its compute capability is unknown to ILGPU 1.5.3). Run with --device cpu.");
            return CreateCpu();
        }
        var accelerator = devices[0].CreateCudaAccelerator(context);
        return new Device(context, accelerator, DeviceKind.Cuda);
    }

    /// <summary>A CPU device whose row kernels take the path CUDA takes (a warp of lanes per row, shuffle
    /// reductions), so tests cover it without a GPU.</summary>
    internal static Device CreateCpuWithWarpRows() => CreateCpu(warpRows: true);

    /// <summary>A CPU device with CUDA's 32-lane warps (one warp a group) that runs every ILGPU kernel, for tests of
    /// warp-level code written for that width (flash attention's emulated tensor-core path).</summary>
    internal static Device CreateCpuWith32LaneWarps()
    {
        var context = Context.Create(b => b.CPU(new CPUDevice(32, 1, 1)).EnableAlgorithms().Optimize(OptimizationLevel.O1));
        var accelerator = context.CreateCPUAccelerator(0, CPUAcceleratorMode.Parallel);
        return new Device(context, accelerator, DeviceKind.Cpu, warpRowsOnCpu: true);
    }

    static Device CreateCpu(bool warpRows = false)
    {
        // 2-wide warps, one warp a group, one multiprocessor: the simulator runs an OS thread per simulated
        // thread and every launch joins them all, so few threads make launches cheap (about 240 -> 60 us
        // measured against the default 16-thread layout). Kernels never assume a warp size.
        var context = Context.Create(b => b.CPU(new CPUDevice(2, 1, 1)).EnableAlgorithms().Optimize(OptimizationLevel.O1));
        var accelerator = context.CreateCPUAccelerator(0, CPUAcceleratorMode.Parallel);
        return new Device(context, accelerator, DeviceKind.Cpu, warpRows);
    }

    /// <summary>Waits for all queued work.</summary>
    public void Synchronize() => Stream.Synchronize();

    /// <summary>A timer of device work: CUDA events on CUDA, a synchronised host clock on the CPU.</summary>
    public IDeviceTimer CreateTimer() => IsCuda
        ? new CudaEventTimer(Accelerator, ((CudaStream)Stream).StreamPtr)
        : new HostClockTimer(Accelerator);

    /// <summary>Records a marker in the stream without waiting (see <see cref="DeviceMarker"/>).</summary>
    public DeviceMarker Mark() => DeviceMarker.Record(this);

    /// <summary>The raw CUDA stream handle (0 = the legacy default stream).</summary>
    internal nint CudaStreamHandle => IsCuda ? ((CudaStream)Stream).StreamPtr : 0;

    /// <summary>One cached instance of a kernel family (its kernels are compiled and loaded once).</summary>
    public T Kernels<T>(Func<Device, T> create) where T : class
    {
        if (_kernelFamilies.TryGetValue(typeof(T), out var existing)) return (T)existing;
        var created = create(this);
        _kernelFamilies[typeof(T)] = created;
        return created;
    }

    /// <summary>A one-paragraph description for logs and `speedrun doctor`.</summary>
    public DeviceInfo Describe()
    {
        if (Accelerator is CudaAccelerator cuda)
        {
            var ptx = (PTXBackend)cuda.Backend;
            long free = cuda.GetFreeMemory();
            return new DeviceInfo(Kind, cuda.Name, cuda.MemorySize, free,
                $"{cuda.Architecture.Major}.{cuda.Architecture.Minor}",
                cuda.DriverVersion.ToString() ?? "", cuda.NumMultiprocessors, cuda.WarpSize,
                $"PTX ISA {ptx.InstructionSet}, target {ptx.Architecture}");
        }
        // The CPU accelerator reports an unbounded size; the machine's memory is what limits us.
        long ram = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        return new DeviceInfo(Kind, Accelerator.Name, ram, ram, "cpu", "",
            Accelerator.NumMultiprocessors, Accelerator.WarpSize, "ILGPU CPU accelerator (simulated threads)");
    }

    /// <summary>Frees kernels, BLAS handles, pooled memory and the accelerator.</summary>
    public void Dispose()
    {
        foreach (var family in _kernelFamilies.Values)
            (family as IDisposable)?.Dispose();
        _blas?.Dispose();
        Pool.Dispose();
        Accelerator.Dispose();
        Context.Dispose();
    }
}

/// <summary>What a device is, for logs, results and the hardware fingerprint.</summary>
public sealed record DeviceInfo(DeviceKind Kind, string Name, long MemoryBytes, long FreeMemoryBytes,
    string ComputeCapability, string DriverVersion, int Multiprocessors, int WarpSize, string CodeTarget)
{
    /// <summary>One line for logs.</summary>
    public override string ToString() =>
        $"{Kind.ToString().ToLowerInvariant()}: {Name}, {MemoryBytes / (1024.0 * 1024 * 1024):F1} GiB " +
        $"({FreeMemoryBytes / (1024.0 * 1024 * 1024):F1} free), cc {ComputeCapability}, driver {DriverVersion}, " +
        $"{Multiprocessors} MPs, warp {WarpSize}, {CodeTarget}";
}
