using System.Net.Sockets;
using System.Numerics.Tensors;
using System.Security.Cryptography;
using Speedrun.Core.Data;
using Speedrun.Core.Training;

namespace Speedrun.Benchmark.Runs;

/// <summary>What the harness asks of an evaluation: the program, its saved model, and the track's validation data.</summary>
public sealed record EvaluationRequest(
    string AssemblyPath, string CheckpointPath, Track Track, string TrackFile, DataPatterns Data, string? Device, string OutDir,
    TimeSpan Limit)
{
    /// <summary>Whether the model may run on the GPU (as <see cref="ProgramRunRequest.UsesGpu"/>).</summary>
    public bool UsesGpu => (Device ?? Track.Device) != "cpu";
}

/// <summary>
/// The harness's score of a saved model. <paramref name="Verdict"/> is null when the model was scored
/// (<paramref name="ValLoss"/> over <paramref name="Tokens"/> tokens), else why not: crashed, timeout, invalid or
/// diverged. <paramref name="ProbeDeviation"/> is the largest change of a prefix's logits when the causality probe
/// changed what followed it, as a fraction of the tolerance (at most 1 for a causal model).
/// </summary>
public sealed record EvaluationOutcome(
    string? Verdict, double ValLoss, long Tokens, int ContextLength, double ProbeDeviation, int ProbedRows, TimeSpan Elapsed,
    IReadOnlyList<string> Problems);

/// <summary>
/// Scores a trained model in two processes the program's code cannot reach into: an evaluation process (the
/// "exec-eval" verb) builds the program's model, loads its weights and answers batches of token ids with logits; the
/// harness, in this process, computes the mean next-token cross-entropy over the track's validation tokens from those
/// logits with its own code and targets. The validation sequences go out in a random order, so no batch row is followed
/// by its own continuation. A second, fresh evaluation process gets copies of some batches whose rows were cut at
/// random points and continued with other text: the logits before each cut must match the first process's within
/// <see cref="ProbeTolerance"/>, or the model looks ahead and the run is invalid. Two processes, because one could
/// remember a batch and replay its answers for the altered copy.
/// </summary>
public static class Evaluation
{
    /// <summary>GPT-2's vocabulary: every token id in the data lies below it, and logit columns past it are ignored.</summary>
    public const int Vocabulary = 50257;

    /// <summary>How far a prefix's logits may move when only later tokens change: this times (1 + the row's largest
    /// |logit|). Rows are computed independently on every device we run on, so a causal model moves them by rounding
    /// at most; a model that reads the next token moves them by whole units.</summary>
    public const double ProbeTolerance = 1e-3;

    /// <summary>Tokens per batch the harness sends (whole sequences; one sequence when a sequence is longer).</summary>
    public const int TokensPerBatch = 4096;

    /// <summary>Batches the probe alters (fewer when there are fewer).</summary>
    public const int ProbeBatches = 2;

    /// <summary>Scores the saved model; with a <paramref name="sandbox"/>, each evaluation process sees only the runtime,
    /// the run folder (read-only: the program and its model), the track file and its socket.</summary>
    public static EvaluationOutcome Run(EvaluationRequest request, ProgramHost host, Sandbox? sandbox, CancellationToken cancel = default)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var problems = new List<string>();
        var socketDir = Directory.CreateTempSubdirectory("speedrun-eval-");
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        deadline.CancelAfter(request.Limit);
        var main = new Session(request, host, sandbox, socketDir.FullName, "eval", deadline.Token);
        var probe = new Session(request, host, sandbox, socketDir.FullName, "probe", deadline.Token);
        try
        {
            var outcome = Score(request, main, probe, problems, deadline.Token);
            main.End();
            probe.End();
            return outcome with { Elapsed = watch.Elapsed };
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException or EndOfStreamException)
        {
            if (deadline.IsCancellationRequested && !cancel.IsCancellationRequested)
            {
                problems.Add($"evaluation ran past its {request.Limit.TotalMinutes:0.#} minute limit");
                return new EvaluationOutcome("timeout", double.NaN, 0, 0, 0, 0, watch.Elapsed, problems);
            }
            if (cancel.IsCancellationRequested) throw new OperationCanceledException(cancel);
            // The model process went away: say what it printed last.
            foreach (var s in new[] { main, probe }.Where(s => s.Started))
                if (s.Failure() is { } why) problems.Add(why);
            if (problems.Count == 0) problems.Add($"the evaluation process broke the channel: {e.Message}");
            return new EvaluationOutcome("crashed", double.NaN, 0, 0, 0, 0, watch.Elapsed, problems);
        }
        finally
        {
            main.Dispose();
            probe.Dispose();
            try { socketDir.Delete(recursive: true); } catch (IOException) { }
        }
    }

    static EvaluationOutcome Score(EvaluationRequest request, Session main, Session probe, List<string> problems, CancellationToken cancel)
    {
        EvaluationOutcome Fail(string verdict, string why, int t = 0)
        {
            problems.Add(why);
            return new EvaluationOutcome(verdict, double.NaN, 0, t, 0, 0, TimeSpan.Zero, problems);
        }

        // Both processes start at once, so that they load their models side by side.
        main.Start();
        probe.Start();
        main.Connect();
        int t = main.Hello();
        long valTokens = request.Track.ValTokens;
        if (t < 1 || t > valTokens || valTokens % t != 0)
            return Fail("invalid", $"the model's ContextLength is {t}; it must divide the track's {valTokens} validation tokens", t);

        // Every validation token, as the records read them: inputs from the start of the val stream, targets shifted by one.
        int sequences = checked((int)(valTokens / t));
        var inputs = new int[valTokens];
        var targets = new int[valTokens];
        using (var val = new ValidationSet(ShardSet.Resolve(request.Data.ValFiles, RunEnvironment.ValFilesVar), valTokens))
            val.ReadBatch(0, sequences, t, inputs, targets);

        var rng = new Random(RandomNumberGenerator.GetInt32(int.MaxValue)); // the harness's, not the program's seed
        int perBatch = Math.Max(1, Math.Min(sequences, TokensPerBatch / t));
        while (sequences % perBatch != 0) perBatch--;
        int batches = sequences / perBatch;
        var order = Enumerable.Range(0, sequences).ToArray();
        rng.Shuffle(order);
        var probed = Enumerable.Range(0, batches).OrderBy(_ => rng.Next()).Take(ProbeBatches).ToHashSet();
        probe.Connect();
        if (probe.Hello() != t) return Fail("invalid", "the model's ContextLength differs between two evaluation processes", t);

        int n = perBatch * t;
        var x = new int[n];
        var y = new int[n];
        var xAltered = new int[n];
        var cuts = new int[perBatch];
        var scratch = new float[Vocabulary];
        double sum = 0, worstDeviation = 0;
        int probedRows = 0;
        for (int b = 0; b < batches; b++)
        {
            cancel.ThrowIfCancellationRequested();
            for (int r = 0; r < perBatch; r++)
            {
                int s = order[b * perBatch + r];
                Array.Copy(inputs, (long)s * t, x, r * t, t);
                Array.Copy(targets, (long)s * t, y, r * t, t);
            }
            main.Send(x, perBatch, t);
            bool probing = probed.Contains(b);
            if (probing)
            {
                Alter(x, xAltered, cuts, perBatch, t, inputs, sequences, rng);
                probe.Send(xAltered, perBatch, t);
            }
            int c = main.ReceiveWidth();
            if (c < Vocabulary) return Fail("invalid", $"the model returned {c} logits per position; the vocabulary has {Vocabulary}", t);
            if (probing)
            {
                int c2 = probe.ReceiveWidth();
                if (c2 != c) return Fail("invalid", $"the model returned {c} logits per position in one process and {c2} in another", t);
                probedRows += cuts.Count(cut => cut > 0);
            }
            // The logits arrive in pieces of whole positions, and each piece is read, probed and scored a few
            // positions at a time: neither side ever holds a batch's logits whole.
            int perPart = Math.Max(1, EvaluationWire.FloatsPerPart / c);
            for (int done = 0; done < n;)
            {
                int pieceRows = main.ReceivePieceRows(n - done);
                if (probing)
                {
                    int probeRows = probe.ReceivePieceRows(n - done);
                    if (probeRows != pieceRows)
                        return Fail("invalid", $"the model cut a batch's logits into different pieces in two evaluation processes ({pieceRows} and {probeRows} positions after {done})", t);
                }
                for (int first = 0; first < pieceRows; first += perPart)
                {
                    int count = Math.Min(perPart, pieceRows - first);
                    var logits = main.ReceiveRows(c, count);
                    if (probing)
                    {
                        var altered = probe.ReceiveRows(c, count);
                        for (int i = 0; i < count; i++)
                        {
                            int g = done + first + i, r = g / t;
                            if (g % t >= cuts[r]) continue; // only the prefix before the cut must match
                            double deviation = Deviation(logits.Slice(i * c, Vocabulary), altered.Slice(i * c, Vocabulary));
                            worstDeviation = Math.Max(worstDeviation, deviation);
                            if (deviation > 1)
                                return Fail("invalid",
                                    $"the model looks ahead: changing the tokens after position {cuts[r]} of a sequence moved the logits before it " +
                                    $"by {deviation * ProbeTolerance:G3} × (1 + largest |logit|), over the tolerance {ProbeTolerance:G3}; the logits at " +
                                    "position t may depend only on tokens 0..t", t);
                        }
                    }
                    for (int i = 0; i < count; i++)
                    {
                        double loss = CrossEntropy(logits.Slice(i * c, c), y[done + first + i], scratch);
                        if (!double.IsFinite(loss))
                            return Fail("diverged", $"the model's logits give a non-finite loss ({loss}) at a validation position", t);
                        sum += loss;
                    }
                }
                done += pieceRows;
            }
        }
        return new EvaluationOutcome(null, sum / valTokens, valTokens, t, worstDeviation, probedRows, TimeSpan.Zero, problems);
    }

    /// <summary>
    /// The probe's copy of a batch: each row kept up to a random cut and continued with the same positions of another
    /// validation sequence. A quarter of the rows are kept whole and a quarter replaced whole, so a model that lets one
    /// row see another is caught as well as one that looks ahead within a row.
    /// </summary>
    static void Alter(int[] x, int[] altered, int[] cuts, int rows, int t, int[] inputs, int sequences, Random rng)
    {
        Array.Copy(x, altered, x.Length);
        for (int r = 0; r < rows; r++)
        {
            int u = rng.Next(4);
            int cut = u == 0 ? t : u == 1 ? 0 : (t > 1 ? rng.Next(1, t) : t);
            cuts[r] = cut;
            int other = rng.Next(sequences);
            for (int i = cut; i < t; i++)
            {
                int replacement = inputs[(long)other * t + i];
                // A token equal to the original would leave that position unchanged; shift it so every later token differs.
                altered[r * t + i] = replacement != x[r * t + i] ? replacement : (replacement + 1) % Vocabulary;
            }
        }
    }

    /// <summary>The largest |a − b| over one position's vocabulary columns, over ProbeTolerance × (1 + the largest |a|).</summary>
    static double Deviation(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double scale = 1, diff = 0;
        for (int k = 0; k < a.Length; k++)
        {
            scale = Math.Max(scale, 1 + Math.Abs(a[k]));
            double d = Math.Abs((double)a[k] - b[k]);
            if (!(d <= diff)) diff = double.IsNaN(d) ? double.PositiveInfinity : d;
        }
        return diff / (ProbeTolerance * scale);
    }

    /// <summary>−log softmax(logits)[target] over the vocabulary's columns (<paramref name="scratch"/> holds one row).</summary>
    public static double CrossEntropy(ReadOnlySpan<float> logits, int target, Span<float> scratch)
    {
        var row = logits[..Vocabulary];
        float max = TensorPrimitives.Max(row);
        if (!float.IsFinite(max)) return double.NaN;
        var e = scratch[..Vocabulary];
        TensorPrimitives.Subtract(row, max, e);
        TensorPrimitives.Exp(e, e);
        return max + Math.Log(TensorPrimitives.Sum<float>(e)) - row[target];
    }

    /// <summary>One evaluation process and its end of the channel.</summary>
    sealed class Session(EvaluationRequest request, ProgramHost host, Sandbox? sandbox, string socketDir, string name, CancellationToken cancel)
        : IDisposable
    {
        Socket? _listener, _socket;
        NetworkStream? _stream;
        ChildProcess? _child;
        CancellationTokenRegistration _onCancel;

        public bool Started => _child is not null;
        string StderrFile => Path.Combine(request.OutDir, $"{name}-stderr.txt");

        /// <summary>Starts the process; <see cref="Connect"/> then waits for it to load its model and connect.</summary>
        public void Start()
        {
            var path = Path.Combine(socketDir, name + ".sock");
            _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            _listener.Bind(new UnixDomainSocketEndPoint(path));
            _listener.Listen(1);
            var env = new Dictionary<string, string>
            {
                [RunEnvironment.TrackVar] = request.Track.Name,
                [RunEnvironment.TrackFileVar] = Path.GetFullPath(request.TrackFile),
            };
            var device = request.Device ?? request.Track.DefaultDevice;
            if (device is not null) env[RunEnvironment.DeviceVar] = device;
            var (command, variables) = (host, (IEnumerable<KeyValuePair<string, string>>)env);
            if (sandbox is not null)
            {
                // Each process gets its own private /tmp and only read-only files: nothing one writes reaches the other.
                var readOnly = new[] { Path.GetFullPath(request.OutDir), Path.GetFullPath(request.TrackFile) };
                command = sandbox.Wrap(host, new SandboxSpec(readOnly, [path], Path.GetFullPath(request.OutDir), Home: "/tmp", env,
                    Gpu: request.UsesGpu));
                variables = [];
            }
            _child = ChildProcess.Start(command, [request.AssemblyPath, request.CheckpointPath, path], variables,
                Path.Combine(request.OutDir, $"{name}-stdout.txt"), StderrFile);
            // Cancelling (the deadline, Ctrl-C) kills the process and closes the channel, which ends any blocked read.
            _onCancel = cancel.Register(() => { _child.Kill(); _socket?.Dispose(); _listener?.Dispose(); });
        }

        public void Connect()
        {
            var accept = _listener!.AcceptAsync(cancel).AsTask();
            while (!accept.Wait(200))
                if (_child!.HasExited) throw new IOException($"the {name} process exited before it connected");
            _socket = accept.Result;
            _stream = new NetworkStream(_socket, ownsSocket: false);
        }

        public int Hello() => EvaluationWire.ReadInt(_stream!);

        public void Send(int[] tokens, int rows, int t)
        {
            EvaluationWire.WriteInt(_stream!, rows);
            EvaluationWire.WriteInt(_stream!, t);
            EvaluationWire.WriteInts(_stream!, tokens);
        }

        float[] _part = [];

        /// <summary>C, the logits per position of the batch that follows.</summary>
        public int ReceiveWidth()
        {
            int c = EvaluationWire.ReadInt(_stream!);
            if (c < 1) throw new IOException($"the {name} process announced {c} logits per position");
            return c;
        }

        /// <summary>The position count (1 to <paramref name="remaining"/>) of the next piece, whose logits follow.</summary>
        public int ReceivePieceRows(int remaining)
        {
            int rows = EvaluationWire.ReadInt(_stream!);
            if (rows < 1 || rows > remaining)
                throw new IOException($"the {name} process sent a piece of {rows} positions with {remaining} left to send");
            return rows;
        }

        /// <summary>The logits of the piece's next <paramref name="rows"/> positions, in a buffer the next call reuses.</summary>
        public ReadOnlySpan<float> ReceiveRows(int c, int rows)
        {
            if ((long)c * rows > Array.MaxLength)
                throw new IOException($"the {name} process announced {c} logits per position, more than a buffer can hold");
            int length = c * rows;
            if (_part.Length < length) _part = new float[length];
            EvaluationWire.ReadFloats(_stream!, _part.AsSpan(0, length));
            return _part.AsSpan(0, length);
        }

        /// <summary>Tells the process to stop, closes the channel and waits a little for it. The close matters when a
        /// verdict came mid-batch (the model looks ahead, diverged): the process is then blocked writing logits that
        /// nobody reads, and its write fails only once the channel is shut; before, it sat out the 30 s grace.</summary>
        public void End()
        {
            if (_child is null) return;
            if (_stream is null)
            {
                _child.Kill(); // started, never asked anything
                return;
            }
            try { EvaluationWire.WriteInt(_stream, 0); } catch (IOException) { }
            // What was written stays readable: the process reads the 0 first when it was waiting for a batch.
            try { _socket!.Shutdown(SocketShutdown.Both); } catch (SocketException) { }
            _child.WaitAtMost(TimeSpan.FromSeconds(30));
        }

        /// <summary>Why the process failed, from its exit code and the end of its stderr; null when it did not.</summary>
        public string? Failure()
        {
            if (_child is null) return null;
            // From now: a process that ran more than 10 s (any real evaluation) and has just crashed was otherwise
            // killed at once, before it was reaped, and its exit code reported as -1.
            var outcome = _child.WaitAtMost(TimeSpan.FromSeconds(10));
            var tail = File.Exists(StderrFile) ? string.Join("\n", ReadShared(StderrFile).TakeLast(15)) : "";
            return $"the {name} process (exit code {outcome.ExitCode}) failed" + (tail.Length > 0 ? $":\n{tail}" : "");
        }

        static IEnumerable<string> ReadShared(string path)
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var reader = new StreamReader(stream);
            var lines = new List<string>();
            while (reader.ReadLine() is { } line) lines.Add(line);
            return lines;
        }

        public void Dispose()
        {
            _onCancel.Dispose();
            _stream?.Dispose();
            _socket?.Dispose();
            _listener?.Dispose();
            _child?.Dispose();
        }
    }
}
