using System.Text.Json;
using System.Text.Json.Serialization;

namespace Speedrun.Core.Training;

/// <summary>
/// A track is data: how a record's training program is scaled for a class of machine. `full` is the
/// records' own configuration (GPT-2 124M, FineWeb, target 3.28); `tiny` runs on a laptop CPU in minutes;
/// `mini` is a GPU track that runs each record in minutes. Files live in tracks/*.json.
/// A record's program reads the track from its run context and applies it to its own hyperparameters.
/// </summary>
public sealed record Track
{
    /// <summary>Short name, also the file name (tracks/&lt;name&gt;.json).</summary>
    public required string Name { get; init; }
    /// <summary>What the track is for, and where its target came from.</summary>
    public required string Description { get; init; }
    /// <summary>"cpu" or "cuda": the device class the reference times are measured on.</summary>
    public required string Device { get; init; }
    /// <summary>"default-corpus" (built offline from the .NET SDK's XML docs) or "fineweb".</summary>
    public required string Data { get; init; }
    /// <summary>Model size override; null keeps the record's own (full) size.</summary>
    public TrackModel? Model { get; init; }
    /// <summary>Sequence length override; null keeps the record's own.</summary>
    public int? SequenceLength { get; init; }
    /// <summary>Fraction of the record's sequences per step (1 = the record's own batch).</summary>
    public double BatchScale { get; init; } = 1;
    /// <summary>Fraction of the record's step count (and of its warm-up/warm-down lengths).</summary>
    public double StepScale { get; init; } = 1;
    /// <summary>Validation tokens evaluated (SPEEDRUN_VAL_TOKENS).</summary>
    public required long ValTokens { get; init; }
    /// <summary>Validate every this many steps (plus the last step).</summary>
    public int ValEvery { get; init; } = 125;
    /// <summary>A run is `ok` when its final validation loss is at or below this.</summary>
    public required double TargetValLoss { get; init; }
    /// <summary>Wall-clock limit for one run, in minutes; past it the run is `timeout`.</summary>
    public required double TimeLimitMinutes { get; init; }

    /// <summary>snake_case JSON; unknown fields are errors.</summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        WriteIndented = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    /// <summary>Reads and checks a track file; errors name the file and the field.</summary>
    public static Track Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Track file not found: {path}", path);
        Track? track;
        try
        {
            track = JsonSerializer.Deserialize<Track>(File.ReadAllText(path), Json);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not a valid track file: {e.Message}", e);
        }
        if (track is null) throw new InvalidDataException($"{path}: empty track file");
        track.Validate(path);
        return track;
    }

    /// <summary>Throws an InvalidDataException naming <paramref name="source"/> and the field that is wrong.</summary>
    public void Validate(string source)
    {
        void Fail(string field, string why) => throw new InvalidDataException($"{source}: field '{field}' {why}");
        if (Device is not ("cpu" or "cuda")) Fail("device", $"is '{Device}'; use cpu or cuda");
        if (Data is not ("default-corpus" or "fineweb")) Fail("data", $"is '{Data}'; use default-corpus or fineweb");
        if (BatchScale is <= 0 or > 1) Fail("batch_scale", "must be in (0, 1]");
        if (StepScale is <= 0 or > 1) Fail("step_scale", "must be in (0, 1]");
        if (ValTokens <= 0) Fail("val_tokens", "must be positive");
        if (ValEvery <= 0) Fail("val_every", "must be positive");
        if (TimeLimitMinutes <= 0) Fail("time_limit_minutes", "must be positive");
        if (SequenceLength is <= 0) Fail("sequence_length", "must be positive");
        if (Model is { } m && (m.Layers <= 0 || m.Dim <= 0 || m.HeadDim <= 0 || m.Dim % m.HeadDim != 0))
            Fail("model", "needs positive layers, dim and head_dim, with dim a multiple of head_dim");
    }

    /// <summary>The device a run uses when none is asked for: a CPU track stays on the CPU even where a GPU is
    /// present (its reference times were measured there); a GPU track takes what it finds.</summary>
    [JsonIgnore] public string? DefaultDevice => Device == "cpu" ? "cpu" : null;

    /// <summary>Scales a step count (warm-up, warm-down, total) from the record's full value.</summary>
    public int Steps(int fullSteps) => Math.Max(1, (int)Math.Round(fullSteps * StepScale));

    /// <summary>Scales a sequence count per step, keeping at least one sequence.</summary>
    public int Sequences(int fullSequences) => Math.Max(1, (int)Math.Round(fullSequences * BatchScale));
}

/// <summary>Model size for a scaled track. Records keep their own head layout rules, using HeadDim
/// where they need one (e.g. 64 in records 1-4, 128 from record 5).</summary>
public sealed record TrackModel(int Layers, int Dim, int HeadDim);
