namespace Speedrun.Core.Data;

/// <summary>
/// One batch of B sequences of T tokens, row-major: <see cref="Inputs"/>[b·T + t] and the token after it
/// in <see cref="Targets"/> (targets are the inputs shifted by one, as in the records' x = buf[:-1],
/// y = buf[1:]).
/// </summary>
public sealed record TokenBatch(int[] Inputs, int[] Targets, int BatchSize, int SequenceLength);
