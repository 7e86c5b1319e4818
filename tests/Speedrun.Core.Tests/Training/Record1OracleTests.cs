using Speedrun.Core.Autograd;
using Speedrun.Core.Training.Modules;
using Speedrun.Core.Training.Optimizers;
using Speedrun.Tests.Torch;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = Speedrun.Core.Autograd.Tensor;
using TTensor = TorchSharp.torch.Tensor;
using Module = Speedrun.Core.Training.Modules.Module;
using Parameter = TorchSharp.Modules.Parameter;

namespace Speedrun.Core.Tests.Training;

/// <summary>
/// The whole-model oracle: record 1's model (compiled from records/01-llmc-baseline/Train.cs) at a tiny size
/// against the same model written with TorchSharp in float64, from identical weights and batches.
/// </summary>
public class Record1OracleTests
{
    const int Layers = 2, Dim = 64, HeadDim = 16, Vocab = 997, SeqLen = 16, Batch = 2;

    static (Module Model, Func<Tensor, Tensor, Tensor> Loss) CSharpModel(Device device, int seed)
    {
        var program = RecordProgram.Load("01-llmc-baseline");
        var hp = program.Hyperparameters(("Layers", Layers), ("Dim", Dim), ("HeadDim", HeadDim), ("Vocab", Vocab),
            ("SequenceLength", SeqLen));
        var model = (Module)Activator.CreateInstance(program.Type("Gpt"), device, hp, new Random(seed))!;
        var loss = program.Type("Gpt").GetMethod("Loss")!;
        return (model, (x, y) => (Tensor)loss.Invoke(model, [x, y])!);
    }

    static (int[] Inputs, int[] Targets) MakeBatch(int seed)
    {
        var rng = new Random(seed);
        var tokens = Enumerable.Range(0, Batch * SeqLen + 1).Select(_ => rng.Next(Vocab)).ToArray();
        return (tokens[..^1], tokens[1..]);
    }

    /// <summary>The same GPT written with TorchSharp ops, float64, weights copied from ours by name.</summary>
    sealed class TorchGpt
    {
        readonly Dictionary<string, Parameter> _p;

        public TorchGpt(Module ours)
        {
            _p = ours.NamedParameters().ToDictionary(
                p => p.Name,
                p => new Parameter(torch.tensor(p.Value.ToArray().Select(v => (double)v).ToArray(),
                    p.Value.Shape.Select(d => (long)d).ToArray())));
        }

        public IReadOnlyDictionary<string, Parameter> Parameters => _p;

        static TTensor Rms(TTensor x) => x * torch.rsqrt(x.pow(2).mean([-1], keepdim: true) + 1e-6);

        public TTensor Loss(int[] inputs, int[] targets)
        {
            var idx = torch.tensor(inputs.Select(i => (long)i).ToArray(), [Batch, SeqLen]);
            var x = _p["wte.weight"].index_select(0, idx.view(-1)).view(Batch, SeqLen, Dim) + _p["wpe.weight"][..SeqLen];
            for (int l = 0; l < Layers; l++)
            {
                var qkv = Rms(x).matmul(_p[$"h.{l}.attn.c_attn.weight"].t());
                var parts = qkv.split(Dim, dim: -1);
                TTensor Heads(TTensor t) => t.view(Batch, SeqLen, Dim / HeadDim, HeadDim).transpose(1, 2);
                var att = nn.functional.scaled_dot_product_attention(Heads(parts[0]), Heads(parts[1]), Heads(parts[2]), is_casual: true);
                var y = att.transpose(1, 2).contiguous().view(Batch, SeqLen, Dim).matmul(_p[$"h.{l}.attn.c_proj.weight"].t());
                x = x + y * (1.0 / Math.Sqrt(2 * Layers));
                var h = nn.functional.gelu(Rms(x).matmul(_p[$"h.{l}.mlp.c_fc.weight"].t()));
                x = x + h.matmul(_p[$"h.{l}.mlp.c_proj.weight"].t());
            }
            var logits = Rms(x).matmul(_p["wte.weight"].t());
            var tgt = torch.tensor(targets.Select(i => (long)i).ToArray());
            return nn.functional.cross_entropy(logits.view(-1, Vocab), tgt);
        }
    }

    [Fact]
    public void LossAndEveryGradientMatchTorchSharpAtStepZero()
    {
        using var device = Device.Create(Kernels.Runtime.DeviceKind.Cpu);
        var (model, lossFn) = CSharpModel(device, seed: 1);
        using var _ = model;
        var torchModel = new TorchGpt(model);
        var (inputs, targets) = MakeBatch(7);

        float ours;
        using (var scope = new TensorScope())
        {
            var loss = lossFn(Tensor.FromArray(device, inputs, Batch, SeqLen), Tensor.FromArray(device, targets, Batch, SeqLen));
            ours = loss.Item();
            loss.Backward();
        }
        var reference = torchModel.Loss(inputs, targets);
        reference.backward();
        double expected = reference.item<double>();
        Assert.True(Math.Abs(ours - expected) <= 1e-5 * Math.Abs(expected), $"loss {ours} vs TorchSharp {expected}");

        foreach (var (name, p) in model.NamedParameters())
        {
            var want = TensorData.Read<double>(torchModel.Parameters[name].grad!);
            var got = p.Grad!.ToArray();
            double scale = want.Max(Math.Abs);
            for (int i = 0; i < want.Length; i++)
                Assert.True(Math.Abs(got[i] - want[i]) <= 1e-6 + 1e-4 * scale,
                    $"{name}[{i}]: ours {got[i]} vs TorchSharp {want[i]} (max |grad| {scale:G3})");
        }
    }

    [Fact]
    public void FiveAdamWStepsWithClippingTrackTorchSharp()
    {
        using var device = Device.Create(Kernels.Runtime.DeviceKind.Cpu);
        var (model, lossFn) = CSharpModel(device, seed: 2);
        using var _ = model;
        var torchModel = new TorchGpt(model);
        const float lr = 3e-3f;
        using var optimizer = new AdamW(new AdamW.Group(model.Parameters(), lr, 0.9f, 0.95f, 1e-8f, 0.1f));
        using var clip = new GradClip(device);
        var torchParams = model.NamedParameters().Select(p => torchModel.Parameters[p.Name]).ToList();
        var torchOptimizer = torch.optim.AdamW(torchParams, lr, 0.9, 0.95, 1e-8, 0.1);

        for (int step = 0; step < 5; step++)
        {
            var (inputs, targets) = MakeBatch(100 + step);
            model.ZeroGrad();
            float ours;
            using (var scope = new TensorScope())
            {
                var loss = lossFn(Tensor.FromArray(device, inputs, Batch, SeqLen), Tensor.FromArray(device, targets, Batch, SeqLen));
                ours = loss.Item();
                loss.Backward();
            }
            clip.ClipGradNorm(model.Parameters(), 1.0f);
                optimizer.Step();

            torchOptimizer.zero_grad();
            var reference = torchModel.Loss(inputs, targets);
            reference.backward();
            nn.utils.clip_grad_norm_(torchParams, 1.0);
            torchOptimizer.step();
            double expected = reference.item<double>();
            Assert.True(Math.Abs(ours - expected) <= 1e-4 * Math.Abs(expected), $"step {step}: loss {ours} vs TorchSharp {expected}");
        }
    }

    [Fact]
    public void SameSeedGivesBitIdenticalLosses()
    {
        float[] Run()
        {
            using var device = Device.Create(Kernels.Runtime.DeviceKind.Cpu);
            var (model, lossFn) = CSharpModel(device, seed: 3);
            using var _ = model;
            using var optimizer = new AdamW(new AdamW.Group(model.Parameters(), 3e-3f, 0.9f, 0.95f, 1e-8f, 0.1f));
            using var clip = new GradClip(device);
            var losses = new List<float>();
            for (int step = 0; step < 4; step++)
            {
                var (inputs, targets) = MakeBatch(200 + step);
                model.ZeroGrad();
                using var scope = new TensorScope();
                var loss = lossFn(Tensor.FromArray(device, inputs, Batch, SeqLen), Tensor.FromArray(device, targets, Batch, SeqLen));
                losses.Add(loss.Item());
                loss.Backward();
                clip.ClipGradNorm(model.Parameters(), 1.0f);
                optimizer.Step();
            }
            return losses.ToArray();
        }
        var first = Run();
        var second = Run();
        Assert.Equal(first.Select(BitConverter.SingleToInt32Bits), second.Select(BitConverter.SingleToInt32Bits));
    }
}
