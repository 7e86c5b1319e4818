// Record 1 of the NanoGPT speedrun, as the benchmark numbers it: the "llm.c baseline" row, whose code
// is modded-nanogpt's first commit (2024-06-01): GPT-2 124M with weightless RMSNorm, a tied embedding,
// learned positions, exact-erf GELU, AdamW with gradient clipping, warm-up then linear decay.
// One self-contained program: hyperparameters, model, optimizer, loop. The run context supplies data,
// device, timing and logging (see Speedrun.Core.Training.RunContext); everything else may change.
using Speedrun.Core.Autograd;
using Speedrun.Core.Training;
using Speedrun.Core.Training.Modules;
using Speedrun.Core.Training.Optimizers;
using Speedrun.Kernels.Ops;

using var ctx = RunContext.FromEnvironment();
var hp = Hyperparameters.ForTrack(ctx.Track);
ctx.LogConfig(hp);

// bf16 matmuls on the GPU, as the record's autocast; fp32 on the CPU.
var precision = ctx.Device.IsCuda ? MatmulPrecision.BF16 : MatmulPrecision.F32;
var rng = new Random(ctx.Seed);
using var model = new Gpt(ctx.Device, hp, rng);
ctx.Log($"parameters: {model.ParameterCount():N0}");
using var optimizer = new AdamW(new AdamW.Group(model.Parameters(), hp.LearningRate, 0.9f, 0.95f, 1e-8f, hp.WeightDecay));
using var clip = new GradClip(ctx.Device);

// -----------------------------------------------------------------------------------------------------
// Training loop: validate every ValEvery steps and at the end; each step accumulates gradients over
// Accumulation micro-batches (standing in for the original 8 GPUs), clips, and takes one AdamW step.
for (int step = 0; step <= hp.Steps; step++)
{
    bool last = step == hp.Steps;
    if (last || step % hp.ValEvery == 0)
        ctx.Validate(step, hp.Steps, hp.MicroBatch, hp.SequenceLength, (x, y) => model.Loss(x, y));
    if (last) break;

    ctx.StepStarting(step);
    model.ZeroGrad();
    for (int micro = 0; micro < hp.Accumulation; micro++)
    {
        using var scope = new TensorScope();
        var (x, y) = ctx.NextTrainBatch(micro, hp.Accumulation, hp.MicroBatch, hp.SequenceLength);
        Tensor loss;
        using (Autocast.Use(precision))
            loss = model.Loss(x, y);
        loss.Backward(1f / hp.Accumulation); // the mean over micro-batches, as DDP averages over ranks
        ctx.AddTrainLoss(loss, 1f / hp.Accumulation);
    }
    clip.ClipGradNorm(model.Parameters(), hp.GradClip);
    foreach (var group in optimizer.Groups) group.Lr = group.InitialLr * hp.LearningRateScale(step);
    optimizer.Step();
    ctx.StepFinished(step, hp.Steps);
}
ctx.SaveModel(model); // the harness times this process until it ends, then scores the saved model

// -----------------------------------------------------------------------------------------------------
// Hyperparameters: the record's own values (8 GPUs x 32 sequences x 1024 tokens, 24,576 steps), scaled by
// the track for smaller machines.
sealed record Hyperparameters
{
    public int Layers { get; init; } = 12;
    public int Dim { get; init; } = 768;
    public int HeadDim { get; init; } = 64;
    public int Vocab { get; init; } = 50257;
    public int SequenceLength { get; init; } = 1024;
    /// <summary>Sequences per optimizer step over all (virtual) GPUs: 8 x 32.</summary>
    public int SequencesPerStep { get; init; } = 8 * 32;
    /// <summary>Sequences per forward/backward pass on this device.</summary>
    public int MicroBatch { get; init; } = 32;
    public int Steps { get; init; } = 24576;
    public int WarmupSteps { get; init; } = 256;
    public float LearningRate { get; init; } = 1.5e-3f;
    public float WeightDecay { get; init; } = 0.1f;
    public float GradClip { get; init; } = 1.0f;
    public float NormEps { get; init; } = 1e-6f;
    public int ValEvery { get; init; } = 128;

    public int Heads => Dim / HeadDim;
    public int Accumulation => SequencesPerStep / MicroBatch;

    /// <summary>The record's own values scaled by the track: width, sequences per step and step counts; depth,
    /// head size and sequence length stay the record's.</summary>
    public static Hyperparameters ForTrack(Track track)
    {
        var hp = new Hyperparameters();
        int sequences = track.Sequences(hp.SequencesPerStep);
        hp = hp with
        {
            Dim = track.Dim(hp.Dim),
            SequencesPerStep = sequences,
            MicroBatch = Math.Min(hp.MicroBatch, sequences),
            Steps = track.Steps(hp.Steps),
            WarmupSteps = track.Steps(hp.WarmupSteps),
            ValEvery = track.ValEvery,
        };
        if (hp.SequencesPerStep % hp.MicroBatch != 0)
            throw new InvalidOperationException($"{hp.SequencesPerStep} sequences per step is not a multiple of the micro-batch {hp.MicroBatch}.");
        if (hp.Dim % hp.HeadDim != 0)
            throw new InvalidOperationException($"The width {hp.Dim} is not a multiple of the head size {hp.HeadDim}.");
        return hp;
    }

    /// <summary>Linear warm-up over WarmupSteps, then linear decay to 0.1/1.1 of the peak at the last step.</summary>
    public float LearningRateScale(int step)
    {
        if (step < WarmupSteps) return (step + 1f) / WarmupSteps;
        float decay = (float)(step - WarmupSteps) / (Steps - WarmupSteps);
        return (0.1f + (1f - decay)) / 1.1f;
    }
}

// -----------------------------------------------------------------------------------------------------
// The model: GPT-2 with pre-norm weightless RMSNorm, the attention branch scaled by 1/sqrt(2 * layers),
// learned absolute positions, and the token embedding tied to the output head.
sealed class Gpt : Module, ILanguageModel<Gpt>
{
    readonly Hyperparameters _hp;
    readonly Tensor _wte, _wpe;
    readonly List<Block> _blocks = new();

    public Gpt(Device device, Hyperparameters hp, Random rng) : base(device)
    {
        _hp = hp;
        _wte = Parameter("wte.weight", Init.Normal(rng, (long)hp.Vocab * hp.Dim, 0.02), hp.Vocab, hp.Dim);
        _wpe = Parameter("wpe.weight", Init.Normal(rng, (long)hp.SequenceLength * hp.Dim, 0.02), hp.SequenceLength, hp.Dim);
        for (int i = 0; i < hp.Layers; i++) _blocks.Add(Child($"h.{i}", new Block(device, hp, rng)));
    }

    /// <summary>The harness's evaluation builds the model with this, then loads the trained weights into it.</summary>
    public static Gpt Create(Track track, Device device) => new(device, Hyperparameters.ForTrack(track), new Random(0));

    /// <summary>The harness evaluates sequences of the training length.</summary>
    public int ContextLength => _hp.SequenceLength;

    /// <summary>Next-token logits of a (B, T) batch, (B, T, 50304); the harness scores the vocabulary's 50257 columns.</summary>
    public Tensor Logits(Tensor inputs)
    {
        var x = F.Embedding(inputs, _wte) + _wpe.Narrow(0, 0, inputs.Dim(1)); // positions broadcast over the batch
        foreach (var block in _blocks) x = block.Forward(x);
        x = F.RmsNorm(x, eps: _hp.NormEps);
        // Tied head. Its 50257 logits per row are stored 64-aligned (50304 wide) so the GEMMs have aligned
        // leading dimensions; the padding columns are not classes and the loss ignores them (same maths).
        return F.Linear(x, _wte, padTo: 64);
    }

    /// <summary>Mean next-token cross-entropy of a (B, T) batch.</summary>
    public Tensor Loss(Tensor inputs, Tensor targets)
    {
        var logits = Logits(inputs);
        int rows = inputs.Dim(0) * inputs.Dim(1);
        return F.CrossEntropy(logits.View(rows, logits.Dim(-1)), targets.View(rows), classes: _hp.Vocab);
    }
}

sealed class Block : Module
{
    readonly Linear _qkv, _attnProj, _fc, _mlpProj;
    readonly int _heads, _dim;
    readonly float _attnScale, _eps;

    public Block(Device device, Hyperparameters hp, Random rng) : base(device)
    {
        (_heads, _dim, _eps) = (hp.Heads, hp.Dim, hp.NormEps);
        _attnScale = 1f / MathF.Sqrt(2 * hp.Layers);
        _qkv = Child("attn.c_attn", new Linear(device, rng, hp.Dim, 3 * hp.Dim));
        _attnProj = Child("attn.c_proj", new Linear(device, rng, hp.Dim, hp.Dim));
        _fc = Child("mlp.c_fc", new Linear(device, rng, hp.Dim, 4 * hp.Dim));
        _mlpProj = Child("mlp.c_proj", new Linear(device, rng, 4 * hp.Dim, hp.Dim));
    }

    public Tensor Forward(Tensor x)
    {
        x = x + _attnScale * _attnProj.Forward(Attention(F.RmsNorm(x, eps: _eps)));
        x = x + _mlpProj.Forward(F.Gelu(_fc.Forward(F.RmsNorm(x, eps: _eps)), GeluForm.Erf));
        return x;
    }

    /// <summary>Causal self-attention: q, k, v from one projection, split into heads (B, H, T, D).</summary>
    Tensor Attention(Tensor x)
    {
        int b = x.Dim(0), t = x.Dim(1), d = _dim / _heads;
        var qkv = _qkv.Forward(x).Split([_dim, _dim, _dim]);
        var (q, k, v) = (Heads(qkv[0]), Heads(qkv[1]), Heads(qkv[2]));
        var y = F.ScaledDotProductAttention(q, k, v, isCausal: true);
        return y.Transpose(1, 2).View(b, t, _dim);

        Tensor Heads(Tensor z) => z.View(b, t, _heads, d).Transpose(1, 2);
    }
}
