// Record 11 of the NanoGPT speedrun (2024-11-10, modded-nanogpt records/2024-11-10_UNetDoubleLr): record 10 as a
// U-net: the first half of the blocks are an encoder whose outputs are kept on a stack, and decoder block i
// starts by adding w_i times the matching encoder output (the last one first), with learned weights w (from 1,
// trained with the other scalars); every learning rate doubled; Newton-Schulz evaluated as X = a·X + (b·A +
// c·A²)·X; 3,000 steps, warm-down 900. (bf16 is emulated as in record 10.)
// One self-contained program: hyperparameters, model, optimizer, loop. The run context supplies data,
// device, timing and logging (see Speedrun.Core.Training.RunContext); everything else may change.
using System.Numerics;
using Speedrun.Core.Autograd;
using Speedrun.Core.Training;
using Speedrun.Core.Training.Modules;
using Speedrun.Core.Training.Optimizers;
using ILGPU;
using ILGPU.Runtime;
using Speedrun.Kernels.Numerics;
using Speedrun.Kernels.Ops;

using var ctx = RunContext.FromEnvironment();
var hp = Hyperparameters.ForTrack(ctx.Track);
ctx.LogConfig(hp);

// bf16 products on every device: the record casts weights and activations itself (no autocast).
var precision = MatmulPrecision.BF16;
var rng = new Random(ctx.Seed);
using var model = new Gpt(ctx.Device, hp, rng);
ctx.Log($"parameters: {model.ParameterCount():N0}");
// Adam (no weight decay) for the embedding and the head, each at its own rate.
using var adam = new AdamW(
    new AdamW.Group([model.Embedding], hp.EmbeddingLearningRate, 0.9f, 0.95f, 1e-8f, weightDecay: 0f),
    new AdamW.Group([model.Head], hp.HeadLearningRate, 0.9f, 0.95f, 1e-8f, weightDecay: 0f));
using var muon = new Muon(model.BlockMatrices(), hp.MuonLearningRate, hp.MuonMomentum, rank: 0, worldSize: 1);
using var adamScalars = new AdamW(new AdamW.Group(model.BlockScalars(), hp.ScalarLearningRate, 0.9f, 0.95f, 1e-8f, weightDecay: 0f));

// -----------------------------------------------------------------------------------------------------
// Training loop: validate every ValEvery steps and at the end; each step accumulates gradients over
// Accumulation micro-batches (standing in for the original 8 GPUs), then one step of each optimizer, both
// at the scheduled fraction of their learning rate.
for (int step = 0; step <= hp.Steps; step++)
{
    bool last = step == hp.Steps;
    if (last || step % hp.ValEvery == 0)
        ctx.Validate(step, hp.Steps, hp.MicroBatch, hp.SequenceLength, (x, y) =>
        {
            using (Autocast.Use(precision)) return model.Loss(x, y);
        });
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
    foreach (var group in adam.Groups.Concat(adamScalars.Groups)) group.Lr = group.InitialLr * lrScale;
    muon.Lr = muon.InitialLr * lrScale;
    muon.Momentum = hp.MuonMomentumAt(step);
    adam.Step();
    muon.Step();
    adamScalars.Step();
    model.RoundBf16Parameters();
    ctx.StepFinished(step, hp.Steps);
}
ctx.SaveModel(model); // the harness times this process until it ends, then scores the saved model

// -----------------------------------------------------------------------------------------------------
// Hyperparameters: the record's own values (8 GPUs x 64 sequences x 1024 tokens, 3,000 steps), scaled by
// the track for smaller machines.
sealed record Hyperparameters
{
    public int Layers { get; init; } = 12;
    public int Dim { get; init; } = 768;
    public int HeadDim { get; init; } = 128;
    /// <summary>GPT-2's 50,257 tokens padded to a multiple of 128.</summary>
    public int Vocab { get; init; } = 50304;
    public int SequenceLength { get; init; } = 1024;
    /// <summary>Sequences per optimizer step over all (virtual) GPUs: 8 x 64.</summary>
    public int SequencesPerStep { get; init; } = 8 * 64;
    /// <summary>Sequences per forward/backward pass on this device.</summary>
    public int MicroBatch { get; init; } = 64;
    public int Steps { get; init; } = 3000;
    public int WarmupSteps { get; init; } = 0;
    public int WarmdownSteps { get; init; } = 900;
    /// <summary>Muon's momentum goes from 0.85 to MuonMomentum over these first steps.</summary>
    public int MomentumWarmupSteps { get; init; } = 500;
    /// <summary>Adam's rate for the learned scalars (the λs).</summary>
    public float ScalarLearningRate { get; init; } = 0.04f;
    public float EmbeddingLearningRate { get; init; } = 0.6f;
    public float HeadLearningRate { get; init; } = 0.008f;
    /// <summary>Muon's rate for the block matrices (times each matrix's scale).</summary>
    public float MuonLearningRate { get; init; } = 0.04f;
    public float MuonMomentum { get; init; } = 0.95f;
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
            MomentumWarmupSteps = track.Steps(hp.MomentumWarmupSteps),
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

    /// <summary>Muon's momentum: linear from 0.85 to MuonMomentum over MomentumWarmupSteps, then constant.</summary>
    public float MuonMomentumAt(int step)
    {
        float frac = Math.Min((float)step / MomentumWarmupSteps, 1f);
        return (1 - frac) * 0.85f + frac * MuonMomentum;
    }
}

// -----------------------------------------------------------------------------------------------------
// The model: pre-norm weightless RMSNorm (PyTorch's default epsilon), also right after the embedding (x0);
// every block mixes in x0 and layer 0's values with learned scalars; QK-norm and rotary on q and k, a ReLU²
// MLP, zero-initialised output projections; an embedding (N(0, 1)) and a separate, zero-initialised head,
// both 50,304 rows; the logits softcapped at 30; U-net skips from the encoder half to the decoder half.
// Activations, the embedding and the scalars are bf16 (Bf16 marks each rounding); the Linear weights are fp32
// masters.
sealed class Gpt : Module, ILanguageModel<Gpt>
{
    readonly Hyperparameters _hp;
    readonly Tensor _wte, _lmHead, _skipWeights;
    readonly List<Block> _blocks = new();
    readonly int _encoderLayers, _decoderLayers;

    public Gpt(Device device, Hyperparameters hp, Random rng) : base(device)
    {
        _hp = hp;
        _wte = Parameter("wte.weight", Bf16Values(Init.Normal(rng, (long)hp.Vocab * hp.Dim, 1.0)), hp.Vocab, hp.Dim);
        var rotary = new RotaryTables(device, hp.SequenceLength, hp.HeadDim, hp.RotaryBase);
        for (int i = 0; i < hp.Layers; i++) _blocks.Add(Child($"h.{i}", new Block(device, hp, rotary, rng)));
        _lmHead = Parameter("lm_head.weight", Init.Zeros((long)hp.Vocab * hp.Dim), hp.Vocab, hp.Dim);
        _encoderLayers = hp.Layers / 2;
        _decoderLayers = hp.Layers - _encoderLayers;
        _skipWeights = Parameter("skip_weights", Enumerable.Repeat(1f, _decoderLayers).ToArray(), _decoderLayers);
    }

    /// <summary>The token embedding (Adam).</summary>
    public Tensor Embedding => _wte;

    /// <summary>The output head (Adam).</summary>
    public Tensor Head => _lmHead;

    /// <summary>What Muon trains: every matrix of the blocks.</summary>
    public IReadOnlyList<Tensor> BlockMatrices() => _blocks.SelectMany(b => b.Parameters()).Where(p => p.Rank == 2).ToList();

    /// <summary>What the scalar Adam trains: the blocks' learned scalars and the skip weights.</summary>
    public IReadOnlyList<Tensor> BlockScalars() =>
        _blocks.SelectMany(b => b.Parameters()).Where(p => p.Rank < 2).Append(_skipWeights).ToList();

    /// <summary>After an update, rounds the parameters the record keeps in bf16: the embedding and the scalars.</summary>
    public void RoundBf16Parameters()
    {
        using var noGrad = GradMode.NoGrad();
        using var scope = new TensorScope();
        foreach (var p in BlockScalars().Append(_wte)) p.Copy_(Bf16(p));
    }

    static float[] Bf16Values(float[] values) => values.Select(v => BFloat16.FromFloat(v).ToFloat()).ToArray();

    /// <summary>A bf16 tensor in this fp32 engine: the values rounded to the nearest bf16.</summary>
    public static Tensor Bf16(Tensor x) => F.RoundToBf16(x);

    /// <summary>The harness's evaluation builds the model with this, then loads the trained weights into it.</summary>
    public static Gpt Create(Track track, Device device) => new(device, Hyperparameters.ForTrack(track), new Random(0));

    /// <summary>The harness evaluates sequences of the training length.</summary>
    public int ContextLength => _hp.SequenceLength;

    /// <summary>Next-token logits of a (B, T) batch, (B, T, 50304); the harness scores the vocabulary's 50257 columns.</summary>
    public Tensor Logits(Tensor inputs)
    {
        var x = Bf16(F.RmsNorm(F.Embedding(inputs, _wte)));
        var x0 = x;
        Tensor? v1 = null;
        var skips = new Stack<Tensor>();
        for (int i = 0; i < _encoderLayers; i++)
        {
            (x, v1) = _blocks[i].Forward(x, v1, x0);
            skips.Push(x);
        }
        for (int i = 0; i < _decoderLayers; i++)
        {
            var weightedSkip = _skipWeights.Narrow(0, i, 1) * skips.Pop();
            (x, v1) = _blocks[_encoderLayers + i].Forward(Bf16(x + weightedSkip), v1, x0); // one fused chain, one rounding
        }
        x = Bf16(F.RmsNorm(x));
        return Bf16(F.Unary<Softcap>(Bf16(F.Linear(x, _lmHead)))); // the training loss's softmax spans all 50,304 columns
    }

    /// <summary>Mean next-token cross-entropy of a (B, T) batch.</summary>
    public Tensor Loss(Tensor inputs, Tensor targets)
    {
        var logits = Logits(inputs);
        int rows = inputs.Dim(0) * inputs.Dim(1);
        return F.CrossEntropy(logits.View(rows, logits.Dim(-1)), targets.View(rows));
    }
}

sealed class Block : Module
{
    readonly Linear _q, _k, _v, _attnProj, _fc, _mlpProj;
    readonly Tensor _lambdas, _lamb;
    readonly RotaryTables _rotary;
    readonly int _heads, _dim;

    public Block(Device device, Hyperparameters hp, RotaryTables rotary, Random rng) : base(device)
    {
        (_heads, _dim, _rotary) = (hp.Heads, hp.Dim, rotary);
        _q = Child("attn.c_q", new Linear(device, rng, hp.Dim, hp.Dim));
        _k = Child("attn.c_k", new Linear(device, rng, hp.Dim, hp.Dim));
        _v = Child("attn.c_v", new Linear(device, rng, hp.Dim, hp.Dim));
        _attnProj = Child("attn.c_proj", new Linear(device, rng, hp.Dim, hp.Dim, Init.Zeros((long)hp.Dim * hp.Dim)));
        _fc = Child("mlp.c_fc", new Linear(device, rng, hp.Dim, 4 * hp.Dim));
        _mlpProj = Child("mlp.c_proj", new Linear(device, rng, 4 * hp.Dim, hp.Dim, Init.Zeros(4L * hp.Dim * hp.Dim)));
        _lambdas = Parameter("lambdas", [1f, 0f], 2);
        _lamb = Parameter("attn.lamb", [0.5f], 1);
    }

    /// <summary>x = λ0·x + λ1·x0, then the attention and MLP branches; returns x and layer 0's values v1.</summary>
    public (Tensor X, Tensor V1) Forward(Tensor x, Tensor? v1, Tensor x0)
    {
        x = Gpt.Bf16(_lambdas.Narrow(0, 0, 1) * x + _lambdas.Narrow(0, 1, 1) * x0);
        var (y, v) = Attention(Gpt.Bf16(F.RmsNorm(x)), v1);
        x = Gpt.Bf16(x + Gpt.Bf16(_attnProj.Forward(y)));
        var h = Gpt.Bf16(F.Unary<ReluSquared>(Gpt.Bf16(_fc.Forward(Gpt.Bf16(F.RmsNorm(x))))));
        x = Gpt.Bf16(x + Gpt.Bf16(_mlpProj.Forward(h)));
        return (x, v);
    }

    /// <summary>Causal self-attention: QK-norm, then rotary, on q and k in (B, T, H, D); the values mixed with layer
    /// 0's, v = (1 − λ)·v + λ·v1; heads moved to (B, H, T, D).</summary>
    (Tensor Y, Tensor V1) Attention(Tensor x, Tensor? v1)
    {
        int b = x.Dim(0), t = x.Dim(1), d = _dim / _heads;
        var q = Gpt.Bf16(new Rotary(_rotary).Apply(Gpt.Bf16(F.RmsNorm(Gpt.Bf16(_q.Forward(x)).View(b, t, _heads, d)))));
        var k = Gpt.Bf16(new Rotary(_rotary).Apply(Gpt.Bf16(F.RmsNorm(Gpt.Bf16(_k.Forward(x)).View(b, t, _heads, d)))));
        var v = Gpt.Bf16(_v.Forward(x)).View(b, t, _heads, d);
        v1 ??= v; // the first block's values are the ones every later block mixes in
        v = Gpt.Bf16((1f - _lamb) * v + _lamb * v1);
        var y = Gpt.Bf16(F.ScaledDotProductAttention(q.Transpose(1, 2), k.Transpose(1, 2), v.Transpose(1, 2), isCausal: true));
        return (y.Transpose(1, 2).View(b, t, _dim), v1);
    }
}

/// <summary>The logit softcap 30·tanh(z/30), fused into one kernel for forward and one for backward.</summary>
readonly struct Softcap : IVectorUnaryOp
{
    const float Cap = 30f;

    public float Forward(float z) => Cap * KernelMath.Tanh(z / Cap);

    public float Backward(float z, float dy)
    {
        float t = KernelMath.Tanh(z / Cap);
        return (1f - t * t) * dy;
    }

    // The same a SIMD vector at a time, with the same bits: the CPU device runs these.
    public Vector<float> Forward(Vector<float> z) => new Vector<float>(Cap) * KernelMath.Tanh(z / new Vector<float>(Cap));

    public Vector<float> Backward(Vector<float> z, Vector<float> dy)
    {
        var t = KernelMath.Tanh(z / new Vector<float>(Cap));
        return (Vector<float>.One - t * t) * dy;
    }
}

/// <summary>ReLU², relu(x)² (the MLP's activation), fused into one kernel for forward and one for backward.</summary>
readonly struct ReluSquared : IUnaryOp
{
    public float Forward(float x)
    {
        float r = x < 0f ? 0f : x;
        return r * r;
    }

    public float Backward(float x, float dy) => x <= 0f ? 0f : 2f * x * dy;
}

// -----------------------------------------------------------------------------------------------------
// Rotary position embeddings (RoFormer): dims i and i + D/2 of each head form a pair, rotated by -θ(t, i) with
// θ(t, i) = t / base^(2i/D): y1 = x1·cos + x2·sin, y2 = -x1·sin + x2·cos. A Function with its own kernel
// (one pass instead of six element-wise ops and a concatenation); its backward is the inverse rotation.

/// <summary>cos and sin of θ(t, i) for every position and pair, (positions, D/2), computed in fp32 as the
/// record does (inv_freq = 1 / base^(2i/D), then t·inv_freq) and kept in bf16.</summary>
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
                cos[t * half + i] = BFloat16.FromFloat(MathF.Cos(angle)).ToFloat();
                sin[t * half + i] = BFloat16.FromFloat(MathF.Sin(angle)).ToFloat();
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
// Muon, distributed: for the matrices this rank owns (index i % world == rank), buf = momentum·buf + g; the
// Nesterov direction g + momentum·buf is orthogonalised by NewtonSchulz5, scaled by sqrt(max(1, rows/cols)),
// rounded to bf16 and written into a flat buffer of all updates; the
// buffer is summed over ranks; every rank then applies W -= lr·update for every matrix. Runs with recording
// off; state is one momentum buffer per matrix and the flat update buffer.
sealed class Muon : IDisposable
{
    readonly List<(Tensor Param, Tensor Buffer)> _state = new();
    readonly Tensor _updates;
    readonly int _rank, _worldSize;

    public Muon(IReadOnlyList<Tensor> parameters, float lr, float momentum, int rank, int worldSize)
    {
        (Lr, InitialLr, Momentum, _rank, _worldSize) = (lr, lr, momentum, rank, worldSize);
        foreach (var p in parameters)
            _state.Add((p, Tensor.Persistent(p.Device, DType.F32, p.Shape).Zero_()));
        _updates = Tensor.Persistent(parameters[0].Device, DType.F32, (int)parameters.Sum(p => p.Length));
    }

    public float Lr { get; set; }
    public float InitialLr { get; }
    public float Momentum { get; set; }

    public void Step()
    {
        using var noGrad = GradMode.NoGrad();
        _updates.Zero_();
        int offset = 0;
        for (int i = 0; i < _state.Count; i++)
        {
            var (p, buffer) = _state[i];
            if (i % _worldSize == _rank)
            {
                using var scope = new TensorScope();
                var g = p.Grad!;
                buffer.Mul_(Momentum).Add_(g);
                var update = NewtonSchulz5(g + Momentum * buffer);
                update = F.RoundToBf16(update * MathF.Sqrt(Math.Max(1f, (float)p.Dim(0) / p.Dim(1))));
                _updates.Narrow(0, offset, (int)p.Length).Copy_(update);
            }
            offset += (int)p.Length;
        }
        AllReduceSum(_updates);
        offset = 0;
        foreach (var (p, _) in _state)
        {
            p.Add_(_updates.Narrow(0, offset, (int)p.Length), -Lr);
            offset += (int)p.Length;
        }
    }

    /// <summary>Sums the buffer over all ranks. With one rank it already holds every update.</summary>
    void AllReduceSum(Tensor buffer)
    {
        if (_worldSize != 1) throw new NotSupportedException("Multi-GPU training is not available; run with world size 1.");
    }

    /// <summary>
    /// The quintic Newton-Schulz iteration that maps G to about U·Vᵀ of its SVD, in bf16 as the record runs it
    /// (every product and sum rounded to bf16; the element-wise part fused, as torch.compile fuses it):
    /// X = bf16(G)/‖bf16(G)‖, on the wide side; five times A = X·Xᵀ, B = b·A + (c·A)·A, X = a·X + B·X.
    /// </summary>
    static Tensor NewtonSchulz5(Tensor g)
    {
        const float a = 3.4445f, b = -4.7750f, c = 2.0315f;
        var x = F.RoundToBf16(g);
        x = F.RoundToBf16(x / F.RoundToBf16(F.RoundToBf16(x.Norm()) + 1e-7f));
        bool tall = g.Dim(0) > g.Dim(1);
        if (tall) x = x.Transpose(0, 1);
        using (Autocast.Use(MatmulPrecision.BF16))
        {
            for (int i = 0; i < 5; i++)
            {
                var A = F.RoundToBf16(x.Matmul(x.Transpose(0, 1)));
                var B = F.RoundToBf16(b * A + F.RoundToBf16(F.RoundToBf16(c * A).Matmul(A)));
                x = F.RoundToBf16(a * x + F.RoundToBf16(B.Matmul(x)));
            }
        }
        return tall ? x.Transpose(0, 1) : x;
    }

    public void Dispose()
    {
        foreach (var (_, buffer) in _state) buffer.Dispose();
        _updates.Dispose();
    }
}
