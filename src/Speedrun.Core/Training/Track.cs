using System.Text.Json;
using System.Text.Json.Serialization;

namespace Speedrun.Core.Training;

/// <summary>
/// A track is data: how every record's training program is scaled for a class of machine. A track scales
/// **width, tokens per step and steps, never structure**: each record keeps its depth, its rule for the head
/// layout (its head size; heads = width / head size), its sequence and stream lengths, its windows, and every
/// step-count constant (warm-up, warm-down, momentum warm-up, window schedule), all scaled by the same
/// <see cref="StepScale"/>. A record reads its sizes through <see cref="Dim"/>, <see cref="Sequences"/> and
/// <see cref="Steps"/> and never asks which track it is on. `full` is the records' own configuration (GPT-2
/// 124M, FineWeb, target 3.28); `mini` a GPU track of minutes per record; `tiny` a CPU track. Files live in
/// tracks/*.json.
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
    /// <summary>The model width (d_model) every record uses on this track; null keeps each record's own (768).
    /// A multiple of 128, so every record's head size (64 or 128) divides it.</summary>
    public int? Width { get; init; }
    /// <summary>Fraction of each record's tokens per optimizer step, taken in whole sequences (or streams) of the
    /// record's own length, at least one (1 = the record's own batch).</summary>
    public double BatchScale { get; init; } = 1;
    /// <summary>Fraction of each record's step counts: total, warm-up, warm-down and every other schedule length.</summary>
    public double StepScale { get; init; } = 1;
    /// <summary>Validation tokens evaluated (SPEEDRUN_VAL_TOKENS).</summary>
    public required long ValTokens { get; init; }
    /// <summary>Validate every this many steps (plus the last step).</summary>
    public int ValEvery { get; init; } = 125;
    /// <summary>A run is `ok` when its final validation loss is at or below this.</summary>
    public required double TargetValLoss { get; init; }
    /// <summary>Wall-clock limit for one run, in minutes; past it the run is `timeout`. See
    /// <see cref="TimeLimitOfficialFactor"/> for tracks whose limit depends on the record.</summary>
    public required double TimeLimitMinutes { get; init; }
    /// <summary>When set, a run of record N's program (or an attempt at task N) may take this many times record N's
    /// official time (on the full track: 8 GPUs' work on one, with a margin), instead of <see cref="TimeLimitMinutes"/>.</summary>
    public double? TimeLimitOfficialFactor { get; init; }
    /// <summary>Where <see cref="TargetValLoss"/> came from, when `speedrun target` set it from calibrations;
    /// null for a target set by hand.</summary>
    public TrackTargetCalibration? TargetCalibration { get; init; }

    /// <summary>snake_case JSON; unknown fields are errors. Written for people to read: +, ' and ` stay as they are
    /// (the default encoder writes them as \u escapes, which is for JSON inside HTML).</summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
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
        if (TimeLimitOfficialFactor is { } f && !(f > 0 && f <= 1000)) Fail("time_limit_official_factor", $"is {f}; it must be in (0, 1000]");
        if (Width is { } w && (w <= 0 || w % 128 != 0))
            Fail("width", $"is {w}; it must be a positive multiple of 128 so that every record's head size (64 or 128) divides it");
    }

    /// <summary>The device a run uses when none is asked for: a CPU track stays on the CPU even where a GPU is
    /// present (its reference times were measured there); a GPU track takes what it finds.</summary>
    [JsonIgnore] public string? DefaultDevice => Device == "cpu" ? "cpu" : null;

    /// <summary>The wall-clock limit, in minutes, for a run of the record whose official time is
    /// <paramref name="officialMinutes"/> (null: not a catalog record).</summary>
    public double TimeLimitFor(double? officialMinutes) =>
        TimeLimitOfficialFactor is { } f && officialMinutes is { } o ? o * f : TimeLimitMinutes;

    /// <summary>The model width for a record whose own width is <paramref name="recordDim"/>.</summary>
    public int Dim(int recordDim) => Width ?? recordDim;

    /// <summary>Scales a step count (total, warm-up, warm-down, ...) from the record's full value, keeping at
    /// least one step; a count of 0 stays 0 (a record without that phase).</summary>
    public int Steps(int fullSteps) => fullSteps == 0 ? 0 : Math.Max(1, (int)Math.Round(fullSteps * StepScale));

    /// <summary>Scales the sequences (or streams) per optimizer step, keeping at least one.</summary>
    public int Sequences(int fullSequences) => Math.Max(1, (int)Math.Round(fullSequences * BatchScale));

    /// <summary>
    /// Scales a step's streams (records 12+ read one long stream of documents per micro-step) by their tokens: the step
    /// gets <see cref="BatchScale"/> of the record's <paramref name="fullCount"/> × <paramref name="fullLength"/>
    /// tokens. Where that is at least one whole stream, streams keep their length and their count scales as
    /// <see cref="Sequences"/> scales it; where it is less (tiny: 1/256 of 8 × 64K is 2,048 tokens), the step is one
    /// stream of that many tokens, cut to whole <paramref name="granule"/>s (the attention's blocks), at least one.
    /// Records 1-11's 1024-token rows never get shorter; a stream does, because a whole one does not fit a CPU track:
    /// at width 128 one 64K stream took 207 s a step (most of it the 50,304-row head), 29 steps an hour and a half.
    /// </summary>
    public (int Count, int Length) Streams(int fullCount, int fullLength, int granule)
    {
        double tokens = (double)fullCount * fullLength * BatchScale;
        if (tokens >= fullLength) return (Sequences(fullCount), fullLength);
        return (1, Math.Max(granule, (int)(tokens / granule) * granule));
    }
}

/// <summary>
/// The provenance of a track's target set by `speedrun target`: the worst final validation loss that any
/// calibration run of the listed records reached on the track, plus a margin, rounded up to 0.01.
/// </summary>
/// <param name="Date">When the target was set (UTC, ISO 8601).</param>
/// <param name="Records">The records whose calibration runs were used (every runnable record).</param>
/// <param name="Seeds">The seeds those runs used.</param>
/// <param name="Fingerprints">The machines (hardware fingerprints, engine included) they ran on.</param>
/// <param name="WeakestRecord">The record with the worst final validation loss.</param>
/// <param name="WeakestValLoss">That loss.</param>
/// <param name="Margin">Added to it before rounding up.</param>
public sealed record TrackTargetCalibration(string Date, IReadOnlyList<int> Records, IReadOnlyList<int> Seeds,
    IReadOnlyList<string> Fingerprints, int WeakestRecord, double WeakestValLoss, double Margin);
