using Speedrun.Benchmark.Catalog;
using Speedrun.Benchmark.Runs;
using Speedrun.Core.Autograd;

namespace Speedrun.Core.Tests.Training;

/// <summary>
/// Records 6 and 7 have no twin of their own: record 6 only restructures record 5's Muon for several GPUs (each
/// rank orthogonalises its share, writes its scaled updates into a flat bf16 buffer, an all-reduce sums it) and
/// record 7 is record 6's code. At world size 1 the restructured Muon must be record 5's with every scaled update
/// rounded to bf16; record 5's Muon applies lr·scale·update unrounded, so the two must agree to within that rounding.
/// </summary>
public class Record6MuonTests(ITestOutputHelper output)
{
    static string Source(string record) =>
        File.ReadAllText(Path.Combine(BenchmarkCatalog.FindRoot(AppContext.BaseDirectory), "records", record, "Train.cs"));

    [Fact]
    public void Record7IsRecord6ApartFromItsHeaderComment()
    {
        static (string Header, string Body) Split(string source)
        {
            var lines = source.Split('\n');
            int header = lines.TakeWhile(l => l.StartsWith("//")).Count();
            return (string.Join('\n', lines[..header]), string.Join('\n', lines[header..]));
        }
        var (six, seven) = (Split(Source("06-distributed-muon")), Split(Source("07-pytorch-2-5")));
        Assert.NotEqual(six.Header, seven.Header);
        Assert.Equal(six.Body, seven.Body);
    }

    /// <summary>
    /// Three Muon steps of each program on identical weights (same seed, zero matrices filled alike), each step from
    /// identical weights (record 5's result copied into record 6's model after every step) and the same gradients
    /// (record 6's, copied into record 5's), so their momentum buffers stay equal. Per element, with W before and W5, W6 after a step and
    /// d5 = W5 − W = −lr·scale·update: |W6 − W5| ≤ 2^-8·|d5| (bf16 keeps 8 significant bits, so rounding moves a
    /// value by at most 2^-8 of itself) + 2 fp32 ulps of W (the two programs add in different orders). Rounding
    /// must also show: most entries differ.
    /// </summary>
    [Fact]
    public void Record6sMuonAtWorldSize1IsRecord5sWithUpdatesRoundedToBf16()
    {
        using var five = new RecordGpt("05-modern-arch", OracleSizes.Padded, seed: 4);
        using var six = new RecordGpt("06-distributed-muon", OracleSizes.Padded, seed: 4);
        five.FillZeroParameters(seed: 5);
        six.FillZeroParameters(seed: 5);
        var (matrices5, matrices6) = (five.ParameterList("BlockParameters"), six.ParameterList("BlockParameters"));
        Assert.Equal(Bits(five.Model.Parameters()), Bits(six.Model.Parameters()));

        float lr = LoadedProgram.Get<float>(five.Hyperparameters, "MuonLearningRate"), momentum = LoadedProgram.Get<float>(five.Hyperparameters, "MuonMomentum");
        using var muon5 = new RecordOptimizers.ProgramMuon(five.Program.Type("Muon"), matrices5, lr, momentum);
        using var muon6 = new RecordOptimizers.ProgramMuon(six.Program.Type("Muon"), matrices6, lr, momentum);
        Assert.False(muon5.Distributed);
        Assert.True(muon6.Distributed);

        long elements = 0, differing = 0;
        double worst = 0; // |W6 − W5| / bound
        for (int step = 0; step < 3; step++)
        {
            // Record 6 also moved QK-norm before rotary, so its model gives other gradients: both optimizers get
            // record 6's (the test is about Muon alone).
            var batch = six.Size.MakeBatch(300 + step);
            six.LossAndBackward(batch);
            using (GradMode.NoGrad())
                for (int i = 0; i < matrices5.Count; i++) matrices5[i].Grad!.Copy_(matrices6[i].Grad!);
            Assert.Equal(Bits(matrices5.Select(p => p.Grad!)), Bits(matrices6.Select(p => p.Grad!)));
            var before = matrices5.Select(p => p.ToArray()).ToList();
            muon5.Step();
            muon6.Step();
            for (int i = 0; i < matrices5.Count; i++)
            {
                var (w, w5, w6) = (before[i], matrices5[i].ToArray(), matrices6[i].ToArray());
                for (int j = 0; j < w.Length; j++)
                {
                    double d5 = (double)w5[j] - w[j];
                    double bound = Math.Pow(2, -8) * Math.Abs(d5) + 2 * Ulp(Math.Max(Math.Abs(w[j]), Math.Abs(w5[j])));
                    double diff = Math.Abs((double)w6[j] - w5[j]);
                    worst = Math.Max(worst, diff / bound);
                    elements++;
                    if (diff != 0) differing++;
                }
                using var source = Speedrun.Core.Autograd.Tensor.FromArray(six.Device, w5, matrices6[i].Shape);
                using (Speedrun.Core.Autograd.GradMode.NoGrad()) matrices6[i].Copy_(source);
            }
        }
        output.WriteLine($"{differing} of {elements} entries differ; the largest difference is {worst:F2} of its bound");
        Assert.True(worst <= 1, $"record 6's weights differ from record 5's by up to {worst:F2} times the bf16 rounding bound");
        Assert.True(differing > elements / 2, $"only {differing} of {elements} entries differ: record 6 does not seem to round its updates");
    }

    /// <summary>The gap from |v| to the next float up.</summary>
    static double Ulp(float v) => (double)MathF.BitIncrement(MathF.Abs(v)) - MathF.Abs(v);

    static int[] Bits(IEnumerable<Speedrun.Core.Autograd.Tensor> tensors) =>
        tensors.SelectMany(t => t.ToArray()).Select(BitConverter.SingleToInt32Bits).ToArray();
}
