using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using Speedrun.Core.Autograd;
using Speedrun.Core.Data;
using Speedrun.Kernels.Runtime;
using Speedrun.Kernels.Ops;

namespace Speedrun.Core.Training;

/// <summary>
/// What a training program calls: it reads the runner's SPEEDRUN_* variables, opens the device and the
/// data, owns the clock (<see cref="TrainClock"/> states the timing rule), evaluates exactly
/// SPEEDRUN_VAL_TOKENS validation tokens, prints the speedrun's log lines, and writes results.json.
/// The program decides everything else: model, optimizer, schedule, loop.
/// </summary>
public sealed class RunContext : IDisposable
{
    readonly StreamWriter _log;
    readonly TrainClock _clock;
    readonly List<ValPoint> _validations = new();
    readonly Tensor _trainLoss;
    readonly string _programName;
    DistributedDataLoader[]? _trainRanks;
    ValidationSet? _val;
    int _stepsDone;
    long _tokensThisStep;
    double _lastValLoss = double.NaN;
    bool _finished;

    RunContext(RunEnvironment env, Track track, Device device, string programName)
    {
        Environment = env;
        Track = track;
        Device = device;
        _programName = programName;
        Directory.CreateDirectory(env.OutDir);
        _log = new StreamWriter(Path.Combine(env.OutDir, "log.txt"), append: false) { AutoFlush = true };
        _clock = new TrainClock(device);
        _trainLoss = Tensor.Persistent(device, DType.F32, 1);
        device.Elementwise().Fill(_trainLoss.F32, 0f);
    }

    /// <summary>The runner's variables, parsed.</summary>
    public RunEnvironment Environment { get; }
    /// <summary>The track: sizes, steps, tokens; read a record's sizes through it.</summary>
    public Track Track { get; }
    /// <summary>The device to train on.</summary>
    public Device Device { get; }
    /// <summary>The seed for parameter initialisation and anything random.</summary>
    public int Seed => Environment.Seed;
    /// <summary>Where log.txt and results.json go.</summary>
    public string OutDir => Environment.OutDir;

    /// <summary>Opens everything from the SPEEDRUN_* variables and writes the log header: the program's
    /// source, a rule, then versions and the device, as the records' logs begin.</summary>
    public static RunContext FromEnvironment([System.Runtime.CompilerServices.CallerFilePath] string callerFile = "")
    {
        var env = RunEnvironment.FromProcess();
        var track = LoadTrack(env);
        var device = Device.Create(DeviceKinds.Parse(env.DeviceName));
        var programPath = env.ProgramPath ?? callerFile;
        var ctx = new RunContext(env, track, device, Path.GetFileName(Path.GetDirectoryName(programPath)) ?? "program");
        ctx.WriteHeader(programPath);
        return ctx;
    }

    static Track LoadTrack(RunEnvironment env)
    {
        if (env.TrackFile is { } file) return Track.Load(file);
        for (var dir = new DirectoryInfo(System.Environment.CurrentDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tracks", env.TrackName + ".json");
            if (File.Exists(candidate)) return Track.Load(candidate);
        }
        throw new FileNotFoundException(
            $"Track '{env.TrackName}' not found: set {RunEnvironment.TrackFileVar} or run from the repository.");
    }

    void WriteHeader(string programPath)
    {
        if (File.Exists(programPath))
        {
            _log.WriteLine(File.ReadAllText(programPath));
            _log.WriteLine(new string('=', 100));
        }
        var info = Device.Describe();
        Log($"program: {_programName} | track: {Track.Name} | seed: {Seed} | out: {OutDir}");
        Log($".NET {System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription} | ILGPU " +
            $"{typeof(ILGPU.Context).Assembly.GetName().Version} | engine {HardwareFingerprint.EngineVersion}");
        Log($"device: {info}");
        Log($"data: train {Environment.TrainFiles} | val {Environment.ValFiles} ({Environment.ValTokens:N0} tokens)");
    }

    /// <summary>Writes a line to stdout and to the run's log.</summary>
    public void Log(string line)
    {
        Console.Out.WriteLine(line);
        Console.Out.Flush();
        _log.WriteLine(line);
    }

    /// <summary>Prints a configuration record as a two-column table (every public property).</summary>
    public void LogConfig(object config)
    {
        var props = config.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.GetIndexParameters().Length == 0 && p.Name != "EqualityContract").ToList();
        int width = props.Max(p => p.Name.Length);
        Log(new string('-', width + 22));
        foreach (var p in props)
            Log($"{p.Name.PadRight(width)} | {Convert.ToString(p.GetValue(config), CultureInfo.InvariantCulture)}");
        Log(new string('-', width + 22));
    }

    /// <summary>
    /// The training stream for one step of <paramref name="ranks"/> micro-batches of B×T tokens: micro-step r
    /// reads what rank r of the original multi-GPU run read (facts: records 1–11 loader).
    /// </summary>
    public (Tensor Inputs, Tensor Targets) NextTrainBatch(int microStep, int ranks, int batchSize, int sequenceLength)
    {
        _trainRanks ??= DistributedDataLoader.CreateRanks(
            ShardSet.Resolve(Environment.TrainFiles, RunEnvironment.TrainFilesVar), batchSize, sequenceLength, ranks);
        if (_trainRanks.Length != ranks || microStep < 0 || microStep >= ranks)
            throw new ArgumentException($"NextTrainBatch: micro-step {microStep} of {ranks} ranks, but the loader was opened for {_trainRanks.Length}.");
        var batch = _trainRanks[microStep].NextBatch();
        _tokensThisStep += (long)batchSize * sequenceLength;
        return (Tensor.FromArray(Device, batch.Inputs, batchSize, sequenceLength),
                Tensor.FromArray(Device, batch.Targets, batchSize, sequenceLength));
    }

    /// <summary>Clock bookkeeping at the start of a training step.</summary>
    public void StepStarting(int step) => _clock.StepStarting(step);

    /// <summary>Adds weight·loss (a one-element device tensor) to this step's train loss, without a sync.</summary>
    public void AddTrainLoss(Tensor loss, float weight) => Device.Elementwise().Accumulate(loss.F32, weight, _trainLoss.F32);

    /// <summary>Ends step <paramref name="step"/> (0-based): prints the train line and checks the loss.</summary>
    public void StepFinished(int step, int totalSteps)
    {
        _stepsDone = step + 1;
        float loss = _trainLoss.Item(); // synchronises, as the records' per-step logging does
        Device.Elementwise().Fill(_trainLoss.F32, 0f);
        double ms = _clock.ElapsedMs;
        Log($"step:{step + 1}/{totalSteps} train_loss:{loss.ToString("F4", CultureInfo.InvariantCulture)} " +
            $"train_time:{ms:F0}ms step_avg:{StepAvg(ms).ToString("F2", CultureInfo.InvariantCulture)}ms");
        // For the runner's progress display only (stderr, not part of the log format).
        Console.Error.WriteLine($"@progress step={step + 1} total={totalSteps} tokens={_tokensThisStep} train_ms={ms:F1}");
        _tokensThisStep = 0;
        if (!float.IsFinite(loss)) Diverged($"train loss is {loss} at step {step + 1}");
    }

    double StepAvg(double ms) => TrainClock.TimedSteps(_stepsDone) is > 0 and var n ? ms / n : 0;

    /// <summary>
    /// Evaluates the mean loss over exactly SPEEDRUN_VAL_TOKENS validation tokens in batches of at most
    /// B×T (fewer sequences for the last batch when needed), with the clock paused and no graph, and prints
    /// the canonical val line. <paramref name="loss"/> returns the mean loss of one batch.
    /// </summary>
    public double Validate(int step, int totalSteps, int batchSize, int sequenceLength, Func<Tensor, Tensor, Tensor> loss)
    {
        _clock.Pause();
        _val ??= new ValidationSet(ShardSet.Resolve(Environment.ValFiles, RunEnvironment.ValFilesVar), Environment.ValTokens);
        if (Environment.ValTokens % sequenceLength != 0)
            throw new InvalidOperationException(
                $"{RunEnvironment.ValTokensVar}={Environment.ValTokens} is not a multiple of the sequence length {sequenceLength}.");
        long sequences = Environment.ValTokens / sequenceLength;
        // The largest batch of at most B sequences that tiles the val tokens exactly: every token counts once.
        int b = batchSize;
        while (sequences % b != 0) b--;
        int batches = (int)(sequences / b);
        double sum = 0;
        var inputs = new int[b * sequenceLength];
        var targets = new int[b * sequenceLength];
        using (GradMode.NoGrad())
        {
            for (int i = 0; i < batches; i++)
            {
                using var scope = new TensorScope();
                _val.ReadBatch(i, b, sequenceLength, inputs, targets);
                var x = Tensor.FromArray(Device, (int[])inputs.Clone(), b, sequenceLength);
                var y = Tensor.FromArray(Device, (int[])targets.Clone(), b, sequenceLength);
                sum += loss(x, y).Item();
            }
        }
        double valLoss = sum / batches; // equal-sized batches: the mean of means is the token mean
        _lastValLoss = valLoss;
        double ms = _clock.ElapsedMs;
        _validations.Add(new ValPoint(step, valLoss, ms));
        Log($"step:{step}/{totalSteps} val_loss:{valLoss.ToString("F4", CultureInfo.InvariantCulture)} " +
            $"train_time:{ms:F0}ms step_avg:{StepAvg(ms).ToString("F2", CultureInfo.InvariantCulture)}ms");
        WriteResult("running");
        if (!double.IsFinite(valLoss)) Diverged($"validation loss is {valLoss} at step {step}");
        return valLoss;
    }

    void Diverged(string why)
    {
        Log($"diverged: {why}");
        WriteResult("diverged");
        _finished = true;
        throw new TrainingDivergedException(why);
    }

    /// <summary>
    /// Ends training: saves <paramref name="model"/>'s weights to the run folder (<see cref="Checkpoint.FileName"/>)
    /// for the harness's evaluation, and writes the final results.json with the program's own numbers. The harness
    /// times the training process until it exits, then builds the model again in a separate process
    /// (<see cref="ILanguageModel{TSelf}.Create"/>), loads these weights and computes the validation loss itself.
    /// </summary>
    public RunResult SaveModel<T>(T model) where T : Modules.Module, ILanguageModel<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        var path = Path.Combine(OutDir, Checkpoint.FileName);
        Checkpoint.Save(path, model, new Dictionary<string, string>
        {
            [Checkpoint.ModelTypeKey] = typeof(T).FullName!,
            ["speedrun.program"] = _programName,
            ["speedrun.track"] = Track.Name,
            ["speedrun.steps"] = _stepsDone.ToString(CultureInfo.InvariantCulture),
        });
        // The program's own verdict from its last validation, if it ran one: informational, the harness decides.
        var status = double.IsNaN(_lastValLoss) ? "trained" : _lastValLoss <= Track.TargetValLoss ? "ok" : "missed_target";
        var result = WriteResult(status);
        _finished = true;
        Log($"saved: {Checkpoint.FileName} ({model.ParameterCount():N0} parameters) | {result.NSteps} steps | program's train_time " +
            $"{result.TrainTimeMs:F0} ms | last val_loss {_lastValLoss:F4} | peak pool {Device.Pool.BytesHeld / (1024 * 1024)} MiB");
        return result;
    }

    RunResult WriteResult(string status)
    {
        double ms = _clock.ElapsedMs;
        var result = new RunResult
        {
            Status = status, NSteps = _stepsDone, ValLoss = _lastValLoss, TrainTimeMs = ms, StepAvgMs = StepAvg(ms),
            Device = Device.Describe().Name, Fingerprint = HardwareFingerprint.Of(Device), Seed = Seed, Track = Track.Name, TargetValLoss = Track.TargetValLoss,
            ValTokens = Environment.ValTokens, Program = _programName, Validations = _validations.ToList(),
            TrainFiles = Environment.TrainFiles, ValFiles = Environment.ValFiles,
        };
        result.Write(Path.Combine(OutDir, "results.json"));
        return result;
    }

    /// <summary>Closes the data, the log and the device.</summary>
    public void Dispose()
    {
        if (!_finished) Log("run ended without SaveModel(): no model for the harness to evaluate");
        _trainLoss.Dispose();
        _clock.Dispose();
        if (_trainRanks is not null) foreach (var r in _trainRanks) r.Dispose();
        _val?.Dispose();
        _log.Dispose();
        Device.Dispose();
    }
}

/// <summary>Thrown when the loss becomes NaN or infinite; results.json already says "diverged".</summary>
public sealed class TrainingDivergedException(string message) : Exception(message);
