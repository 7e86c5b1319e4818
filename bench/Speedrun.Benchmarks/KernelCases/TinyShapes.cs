namespace Speedrun.Benchmarks.KernelCases;

/// <summary>
/// The sizes of one tiny-track training step of record 1 (tracks/tiny.json: 2 layers, d 128, head_dim 32,
/// T 128, 4 sequences a step; GPT-2's vocabulary), so each kernel is timed at the shape training gives it.
/// </summary>
static class TinyShapes
{
    public const int B = 4, T = 128, C = 128, HS = 32, NH = C / HS, V = 50257, Layers = 2;

    /// <summary>Token rows of a step: B·T.</summary>
    public const int N = B * T;

    /// <summary>The MLP's hidden width, 4C.</summary>
    public const int Hidden = 4 * C;

    /// <summary>Element counts of the model's parameters in registration order: wte, wpe, then per block
    /// c_attn, attn c_proj, c_fc, mlp c_proj. 6,842,496 in all.</summary>
    public static readonly int[] ParameterSizes =
    [
        V * C, T * C,
        3 * C * C, C * C, Hidden * C, C * Hidden,
        3 * C * C, C * C, Hidden * C, C * Hidden,
    ];

    public static long ParameterCount => ParameterSizes.Sum(n => (long)n);
}
