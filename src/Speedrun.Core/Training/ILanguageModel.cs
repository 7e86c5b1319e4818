using Speedrun.Core.Autograd;
using Speedrun.Core.Training.Modules;
using Speedrun.Kernels.Runtime;

namespace Speedrun.Core.Training;

/// <summary>
/// What the harness needs of a trained model to score it: a way to build it again, untrained, in the
/// evaluation process (the saved weights are then loaded into it by name), and its forward pass. The
/// harness computes the loss from the logits itself, on validation tokens the training process never saw.
/// </summary>
/// <typeparam name="TSelf">The model's own type (<c>sealed class Gpt : Module, ILanguageModel&lt;Gpt&gt;</c>).</typeparam>
public interface ILanguageModel<TSelf> where TSelf : Module, ILanguageModel<TSelf>
{
    /// <summary>Builds the model for <paramref name="track"/> with any initial values: every parameter must have
    /// the name and shape it had when <see cref="RunContext.SaveModel{T}"/> saved it.</summary>
    static abstract TSelf Create(Track track, Device device);

    /// <summary>Tokens per sequence the harness evaluates with (the records use their training sequence length); it
    /// must divide the track's validation tokens.</summary>
    int ContextLength { get; }

    /// <summary>Next-token logits for a (B, T) batch of token ids: (B, T, C) or (B·T, C) floats with C at least the
    /// vocabulary (columns past it, such as alignment padding, are ignored). The logits at position t may depend
    /// only on tokens 0..t of the same sequence; the harness checks.</summary>
    Tensor Logits(Tensor inputs);

    /// <summary>
    /// The same logits in pieces of whole positions, in order (row-major over (B, T)), each (P, C) or (1, P, C), for
    /// batches whose (B·T, C) logits are too large to exist at once (a 64K-token stream has 3.3 billion). The harness
    /// takes each piece as it comes and never holds more than one. Default: one piece, <see cref="Logits"/>. A model
    /// overriding it typically runs its body once and its head on slices of the final hidden states; tensors of a
    /// piece may be freed once the next piece is asked for.
    /// </summary>
    IEnumerable<Tensor> LogitsInPieces(Tensor inputs) => [Logits(inputs)];
}
