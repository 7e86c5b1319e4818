using System.Net.Sockets;
using System.Reflection;
using System.Runtime.Loader;
using Speedrun.Core.Autograd;
using Speedrun.Core.Training;
using Speedrun.Kernels.Runtime;

namespace Speedrun.Benchmark.Runs;

/// <summary>
/// The evaluation process's side (the hidden "exec-eval" verb): builds the program's model type named in the
/// checkpoint with its <see cref="ILanguageModel{TSelf}.Create"/>, loads the saved weights, connects to the
/// harness's socket and answers each batch of token ids with the model's logits (<see cref="EvaluationWire"/>).
/// It never sees targets or computes a loss.
/// </summary>
public static class EvaluationEntry
{
    public static int Run(string assemblyPath, string checkpointPath, string socketPath)
    {
        var header = Checkpoint.ReadHeader(checkpointPath);
        if (!header.Metadata.TryGetValue(Checkpoint.ModelTypeKey, out var typeName))
            throw new InvalidDataException($"{checkpointPath} does not name its model type ({Checkpoint.ModelTypeKey}); save it with ctx.SaveModel(model).");
        var assembly = AssemblyLoadContext.Default.LoadFromAssemblyPath(Path.GetFullPath(assemblyPath));
        var type = assembly.GetType(typeName)
                   ?? throw new InvalidOperationException($"{assemblyPath} defines no type '{typeName}', which {checkpointPath} names as its model.");
        MethodInfo serve;
        try
        {
            serve = typeof(EvaluationEntry).GetMethod(nameof(Serve), BindingFlags.NonPublic | BindingFlags.Static)!.MakeGenericMethod(type);
        }
        catch (ArgumentException)
        {
            throw new InvalidOperationException($"'{typeName}' must be a Module that implements ILanguageModel<{typeName}>.");
        }
        try
        {
            return (int)serve.Invoke(null, [checkpointPath, socketPath])!;
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw();
            throw; // unreachable
        }
    }

    static int Serve<T>(string checkpointPath, string socketPath) where T : Speedrun.Core.Training.Modules.Module, ILanguageModel<T>
    {
        var trackFile = Environment.GetEnvironmentVariable(RunEnvironment.TrackFileVar)
                        ?? throw new InvalidOperationException($"{RunEnvironment.TrackFileVar} is not set (the harness sets it).");
        var track = Track.Load(trackFile);
        using var device = Device.Create(DeviceKinds.Parse(Environment.GetEnvironmentVariable(RunEnvironment.DeviceVar) ?? track.DefaultDevice));
        using var model = T.Create(track, device);
        Checkpoint.Load(checkpointPath, model);

        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.Connect(new UnixDomainSocketEndPoint(socketPath));
        using var stream = new NetworkStream(socket, ownsSocket: false);
        EvaluationWire.WriteInt(stream, model.ContextLength);
        var buffer = new float[EvaluationWire.FloatsPerPart];
        while (true)
        {
            int rows = EvaluationWire.ReadInt(stream);
            if (rows == 0) return 0;
            int t = EvaluationWire.ReadInt(stream);
            var tokens = new int[checked(rows * t)];
            EvaluationWire.ReadInts(stream, tokens);
            using var scope = new TensorScope();
            using var noGrad = GradMode.NoGrad();
            try
            {
                SendPieces<T>(stream, model.LogitsInPieces(Tensor.FromArray(device, tokens, rows, t)), rows, t, buffer);
            }
            catch (IOException e)
            {
                // The harness shuts the channel when it has its verdict before the batch's end: nothing is lost.
                Console.Error.WriteLine($"{HarnessClosedTheChannel} while this process sent a batch's logits ({e.Message}); stopping.");
                return 3;
            }
        }
    }

    /// <summary>What the process prints when its logits stop being read.</summary>
    public const string HarnessClosedTheChannel = "the harness closed the channel";

    /// <summary>Sends C, then each piece of logits as it comes (its position count, then its floats), checking that
    /// the pieces are F32, all C wide, and cover the batch's positions exactly.</summary>
    static void SendPieces<T>(Stream stream, IEnumerable<Tensor> pieces, int rows, int t, float[] buffer)
    {
        long positions = (long)rows * t, sent = 0;
        int c = 0;
        string Describe(Tensor piece) =>
            $"{typeof(T).Name}.LogitsInPieces returned {piece.Describe()} after {sent} of the {positions} positions of a ({rows}, {t}) batch";
        foreach (var piece in pieces)
        {
            if (piece.DType != DType.F32 || piece.Shape.Length < 2)
                throw new InvalidOperationException($"{Describe(piece)}; pieces must be F32 logits of shape (P, C) or (B, P, C).");
            if (c == 0)
            {
                c = piece.Dim(-1);
                EvaluationWire.WriteInt(stream, c);
            }
            long pieceRows = piece.Length / Math.Max(1, c);
            if (piece.Dim(-1) != c || pieceRows < 1 || sent + pieceRows > positions)
                throw new InvalidOperationException(
                    $"{Describe(piece)}; every piece must be {c} wide and the pieces must cover exactly the batch's positions.");
            EvaluationWire.WriteInt(stream, (int)pieceRows);
            // Through one reused buffer: a fresh array per piece (824 MB for 4,096 positions) cost seconds of page
            // faults a batch, more than the forward itself on the CPU.
            for (long start = 0; start < piece.Length; start += buffer.Length)
            {
                var part = buffer.AsSpan(0, (int)Math.Min(buffer.Length, piece.Length - start));
                piece.CopyTo(part, start);
                EvaluationWire.WriteFloats(stream, part);
            }
            sent += pieceRows;
            piece.Dispose();
        }
        if (sent != positions)
            throw new InvalidOperationException(
                $"{typeof(T).Name}.LogitsInPieces gave logits for {sent} of the {positions} positions of a ({rows}, {t}) batch; they must cover all of them.");
    }
}
