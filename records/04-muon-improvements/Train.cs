// Record 4 of the NanoGPT speedrun (2024-10-11, modded-nanogpt records/2024-10-10_Muon): record 3 with Muon
// improved: the fused q/k/v matrix is orthogonalised as three square blocks, each update is scaled by
// sqrt(max(rows, cols)) so its entries have unit RMS, the learning rates are retuned (AdamW 3.6e-3, Muon a
// tenth of it), and the schedule has no warm-up: 6,200 steps with an 1,800-step linear warm-down.
// One self-contained program: hyperparameters, model, optimizer, loop. The run context supplies data,
// device, timing and logging (see Speedrun.Core.Training.RunContext); everything else may change.
using Speedrun.Core.Autograd;
using Speedrun.Core.Training;
using Speedrun.Core.Training.Modules;
using Speedrun.Core.Training.Optimizers;
using ILGPU;
using ILGPU.Runtime;
using Speedrun.Kernels.Ops;

using var ctx = RunContext.FromEnvironment();
var hp = Hyperparameters.ForTrack(ctx.Track);
ctx.LogConfig(hp);

// bf16 matmuls on the GPU, as the record's autocast; fp32 on the CPU.
var precision = ctx.Device.IsCuda ? MatmulPrecision.BF16 : MatmulPrecision.F32;
var rng = new Random(ctx.Seed);
using var model = new Gpt(ctx.Device, hp, rng);
ctx.Log($"parameters: {model.ParameterCount():N0}");
using var adam = new AdamW(new AdamW.Group(model.HeadParameters(), hp.LearningRate, 0.9f, 0.95f, 1e-8f, weightDecay: 0f));
using var muon = new Muon(model.BlockParameters(), hp.MuonLearningRate, hp.MuonMomentum);

// -----------------------------------------------------------------------------------------------------
// Training loop: validate every ValEvery steps and at the end; each step accumulates gradients over
// Accumulation micro-batches (standing in for the original 8 GPUs), then one step of each optimizer, both
// at the scheduled fraction of their learning rate.
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
    float lrScale = hp.LearningRateScale(step);
    foreach (var group in adam.Groups) group.Lr = group.InitialLr * lrScale;
    muon.Lr = muon.InitialLr * lrScale;
    adam.Step();
    muon.Step();
    ctx.StepFinished(step, hp.Steps);
}
ctx.SaveModel(model); // the harness times this process until it ends, then scores the saved model

// -----------------------------------------------------------------------------------------------------
// Hyperparameters: the record's own values (8 GPUs x 64 sequences x 1024 tokens, 6,200 steps), scaled by
// the track for smaller machines.
sealed record Hyperparameters
{
    public int Layers { get; init; } = 12;
    public int Dim { get; init; } = 768;
    public int HeadDim { get; init; } = 64;
    public int Vocab { get; init; } = 50257;
    public int SequenceLength { get; init; } = 1024;
    /// <summary>Sequences per optimizer step over all (virtual) GPUs: 8 x 64.</summary>
    public int SequencesPerStep { get; init; } = 8 * 64;
    /// <summary>Sequences per forward/backward pass on this device.</summary>
    public int MicroBatch { get; init; } = 64;
    public int Steps { get; init; } = 6200;
    public int WarmupSteps { get; init; } = 0;
    public int WarmdownSteps { get; init; } = 1800;
    /// <summary>AdamW's rate for the tied embedding/head.</summary>
    public float LearningRate { get; init; } = 3.6e-3f;
    /// <summary>Muon's rate for the block matrices: a tenth of the AdamW rate (times each matrix's scale).</summary>
    public float MuonLearningRate { get; init; } = 3.6e-4f;
    public float MuonMomentum { get; init; } = 0.95f;
    public float NormEps { get; init; } = 1e-6f;
    public float RotaryBase { get; init; } = 10000f;
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
            WarmdownSteps = track.Steps(hp.WarmdownSteps),
            ValEvery = track.ValEvery,
        };
        if (hp.SequencesPerStep % hp.MicroBatch != 0)
            throw new InvalidOperationException($"{hp.SequencesPerStep} sequences per step is not a multiple of the micro-batch {hp.MicroBatch}.");
        if (hp.Dim % hp.HeadDim != 0)
            throw new InvalidOperationException($"The width {hp.Dim} is not a multiple of the head size {hp.HeadDim}.");
        return hp;
    }

    /// <summary>Trapezoid: linear warm-up over WarmupSteps, constant, then linear warm-down to 0 over the last
    /// WarmdownSteps.</summary>
    public float LearningRateScale(int step)
    {
        if (step < WarmupSteps) return (step + 1f) / WarmupSteps;
        if (step < Steps - WarmdownSteps) return 1f;
        return (float)(Steps - step) / WarmdownSteps;
    }
}

// -----------------------------------------------------------------------------------------------------
// The model: GPT-2 with pre-norm weightless RMSNorm, the attention branch scaled by 1/sqrt(2 * layers),
// rotary position embeddings on q and k, and the token embedding tied to the output head (its weight is
// the head's, with nn.Linear's default initialisation).
sealed class Gpt : Module, ILanguageModel<Gpt>
{
    readonly Hyperparameters _hp;
    readonly Tensor _wte;
    readonly List<Block> _blocks = new();

    public Gpt(Device device, Hyperparameters hp, Random rng) : base(device)
    {
        _hp = hp;
        _wte = Parameter("wte.weight", Init.LinearDefault(rng, hp.Vocab, hp.Dim), hp.Vocab, hp.Dim);
        var rotary = new RotaryTables(device, hp.SequenceLength, hp.HeadDim, hp.RotaryBase);
        for (int i = 0; i < hp.Layers; i++) _blocks.Add(Child($"h.{i}", new Block(device, hp, rotary, rng)));
    }

    /// <summary>What AdamW trains: the tied embedding/head.</summary>
    public IReadOnlyList<Tensor> HeadParameters() => [_wte];

    /// <summary>What Muon trains: every matrix of the blocks.</summary>
    public IReadOnlyList<Tensor> BlockParameters() => _blocks.SelectMany(b => b.Parameters()).ToList();

    /// <summary>The harness's evaluation builds the model with this, then loads the trained weights into it.</summary>
    public static Gpt Create(Track track, Device device) => new(device, Hyperparameters.ForTrack(track), new Random(0));

    /// <summary>The harness evaluates sequences of the training length.</summary>
    public int ContextLength => _hp.SequenceLength;

    /// <summary>Next-token logits of a (B, T) batch, (B, T, 50304); the harness scores the vocabulary's 50257 columns.</summary>
    public Tensor Logits(Tensor inputs)
    {
        var x = F.Embedding(inputs, _wte);
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
    readonly RotaryTables _rotary;
    readonly int _heads, _dim;
    readonly float _attnScale, _eps;

    public Block(Device device, Hyperparameters hp, RotaryTables rotary, Random rng) : base(device)
    {
        (_heads, _dim, _eps, _rotary) = (hp.Heads, hp.Dim, hp.NormEps, rotary);
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

    /// <summary>Causal self-attention: q, k, v from one projection, rotary on q and k in (B, T, H, D), heads
    /// moved to (B, H, T, D).</summary>
    Tensor Attention(Tensor x)
    {
        int b = x.Dim(0), t = x.Dim(1), d = _dim / _heads;
        var qkv = _qkv.Forward(x).Split([_dim, _dim, _dim]);
        var q = new Rotary(_rotary).Apply(qkv[0].View(b, t, _heads, d));
        var k = new Rotary(_rotary).Apply(qkv[1].View(b, t, _heads, d));
        var v = qkv[2].View(b, t, _heads, d);
        var y = F.ScaledDotProductAttention(q.Transpose(1, 2), k.Transpose(1, 2), v.Transpose(1, 2), isCausal: true);
        return y.Transpose(1, 2).View(b, t, _dim);
    }
}

// -----------------------------------------------------------------------------------------------------
// Rotary position embeddings (RoFormer): dims i and i + D/2 of each head form a pair, rotated by -θ(t, i) with
// θ(t, i) = t / base^(2i/D): y1 = x1·cos + x2·sin, y2 = -x1·sin + x2·cos. A Function with its own kernel
// (one pass instead of six element-wise ops and a concatenation); its backward is the inverse rotation.

/// <summary>cos and sin of θ(t, i) for every position and pair, (positions, D/2), computed in fp32 as the
/// record does (inv_freq = 1 / base^(2i/D), then t·inv_freq).</summary>
sealed class RotaryTables
{
    public RotaryTables(Device device, int positions, int headDim, float theta)
    {
        int half = headDim / 2;
        var cos = new float[positions * half];
        var sin = new float[positions * half];
        for (int i = 0; i < half; i++)
        {
            float inverseFrequency = 1f / MathF.Pow(theta, 2f * i / headDim);
            for (int t = 0; t < positions; t++)
            {
                float angle = t * inverseFrequency;
                cos[t * half + i] = MathF.Cos(angle);
                sin[t * half + i] = MathF.Sin(angle);
            }
        }
        Cos = Tensor.Persistent(device, DType.F32, positions, half);
        Sin = Tensor.Persistent(device, DType.F32, positions, half);
        Cos.F32.CopyFromCPU(device.Stream, cos);
        Sin.F32.CopyFromCPU(device.Stream, sin);
    }

    public Tensor Cos { get; }
    public Tensor Sin { get; }
}

/// <summary>Rotary embedding of x (B, T, H, D) for positions 0..T-1.</summary>
sealed class Rotary(RotaryTables tables) : Function("rotary")
{
    protected override Tensor[] Forward(Tensor[] inputs)
    {
        var x = inputs[0];
        var y = Tensor.Empty(x.Device, x.Shape);
        Rotate(x, y, sign: 1f);
        return [y];
    }

    public override Tensor?[] Backward(Tensor[] gradOutputs)
    {
        var dy = gradOutputs[0];
        var dx = Tensor.Empty(dy.Device, dy.Shape);
        Rotate(dy, dx, sign: -1f); // the transpose of a rotation is the rotation back
        return [dx];
    }

    void Rotate(Tensor x, Tensor y, float sign)
    {
        int t = x.Dim(1), h = x.Dim(2), half = x.Dim(3) / 2;
        var kernels = x.Device.Kernels(static d => new RotaryKernels(d));
        kernels.Rotate(x.Device.Launch.For(x.Length / 2), x.F32, tables.Cos.F32, tables.Sin.F32, y.F32, t, h, half, sign);
    }
}

sealed class RotaryKernels(Device device)
{
    public readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, float> Rotate =
        device.Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, float>(RotateKernel);

    // One iteration per pair, grid-stride (a few threads suffice on the CPU accelerator).
    static void RotateKernel(ArrayView<float> x, ArrayView<float> cos, ArrayView<float> sin, ArrayView<float> y,
        int T, int H, int half, float sign)
    {
        int pairs = x.IntLength / 2, stride = Threads.Count;
        for (int p = Threads.Index; p < pairs; p += stride)
        {
            int i = p % half, row = p / half; // row = (b·T + t)·H + h
            int t = row / H % T;
            int a = row * 2 * half + i, b = a + half;
            float c = cos[t * half + i], s = sign * sin[t * half + i];
            float x1 = x[a], x2 = x[b];
            y[a] = x1 * c + x2 * s;
            y[b] = x2 * c - x1 * s;
        }
    }
}

// -----------------------------------------------------------------------------------------------------
// Muon: for each matrix, buf = momentum·buf + g; the Nesterov direction g + momentum·buf is orthogonalised
// by NewtonSchulz5 and applied as W -= lr·scale·update, scale = sqrt(max(rows, cols)) so the update's
// entries have unit RMS. The fused q/k/v matrix (3C x C) is orthogonalised as three C x C blocks, scale
// sqrt(C). Runs with recording off; state is one buffer per matrix.
sealed class Muon : IDisposable
{
    readonly List<(Tensor Param, Tensor Buffer)> _state = new();

    public Muon(IReadOnlyList<Tensor> parameters, float lr, float momentum)
    {
        (Lr, InitialLr, Momentum) = (lr, lr, momentum);
        foreach (var p in parameters)
            _state.Add((p, Tensor.Persistent(p.Device, DType.F32, p.Shape).Zero_()));
    }

    public float Lr { get; set; }
    public float InitialLr { get; }
    public float Momentum { get; }

    public void Step()
    {
        using var noGrad = GradMode.NoGrad();
        foreach (var (p, buffer) in _state)
        {
            using var scope = new TensorScope();
            var g = p.Grad!;
            buffer.Mul_(Momentum).Add_(g);
            var direction = g + Momentum * buffer;
            int rows = direction.Dim(0), cols = direction.Dim(1);
            Tensor update;
            float scale;
            if (rows == 3 * cols) // the grouped q, k, v
            {
                update = F.Cat(direction.Split([cols, cols, cols], dim: 0).Select(NewtonSchulz5).ToArray(), dim: 0);
                scale = MathF.Sqrt(cols);
            }
            else
            {
                update = NewtonSchulz5(direction);
                scale = MathF.Sqrt(Math.Max(rows, cols));
            }
            p.Add_(update, -Lr * scale);
        }
    }

    /// <summary>
    /// The quintic Newton-Schulz iteration that maps G to about U·Vᵀ of its SVD, in bf16 as the record runs it
    /// (every product and sum rounded to bf16; the element-wise part fused, as torch.compile fuses it):
    /// X = G/‖G‖, on the wide side; five times A = X·Xᵀ, B = A·X, X = a·X + b·B + (c·A)·B.
    /// </summary>
    static Tensor NewtonSchulz5(Tensor g)
    {
        const float a = 3.4445f, b = -4.7750f, c = 2.0315f;
        var x = F.RoundToBf16(F.RoundToBf16(g) / (g.Norm() + 1e-7f));
        bool tall = g.Dim(0) > g.Dim(1);
        if (tall) x = x.Transpose(0, 1);
        using (Autocast.Use(MatmulPrecision.BF16))
        {
            for (int i = 0; i < 5; i++)
            {
                var A = F.RoundToBf16(x.Matmul(x.Transpose(0, 1)));
                var B = F.RoundToBf16(A.Matmul(x));
                var cAB = F.RoundToBf16(F.RoundToBf16(c * A).Matmul(B));
                x = F.RoundToBf16(a * x + b * B + cAB);
            }
        }
        return tall ? x.Transpose(0, 1) : x;
    }

    public void Dispose()
    {
        foreach (var (_, buffer) in _state) buffer.Dispose();
    }
}
