using Speedrun.Kernels.Numerics;

namespace Speedrun.Core.Tests.Training;

/// <summary>
/// The starting values records.md gives records 5-17, checked on a record's freshly built model. The oracle tests
/// fill the zero-initialised matrices before comparing (<see cref="RecordGpt.FillZeroParameters"/>), so this is
/// where the zeros themselves are checked.
/// </summary>
static class InitialWeights
{
    /// <summary>
    /// Every parameter of <paramref name="ours"/> against record <paramref name="record"/>'s start, and no other
    /// parameters: nn.Linear's U(±1/√fan_in) for q, k, v, c_fc (and the tied embedding/head of records 5-7); zero
    /// attn.c_proj and mlp.c_proj (5+) and lm_head (8+); an N(0, 1) embedding (8+), with bf16 values (10+);
    /// λ = [1, 0] and the value-residual λ = 0.5 (9+; the value-embedding λ from 14); skip weights 1 (11+); an N(0, 1)
    /// value embedding of Layers·Dim columns, bf16 values (14). Record 15: Layers/2 slices of it, and two value λs
    /// (attn.lambdas) at [0.5, 0.5]; 16: Layers/2 tables ve.{i}.weight of Dim columns; 17+: hp.ValueEmbeddingTables of
    /// them, the embeddings hp.Vocab rows and the head hp.HeadRows (padded to 128), no attention parameters in
    /// hp.LayerWithoutAttention. Record 18: the head hp.Vocab rows too (50,304); 19+: q, k, v and c_fc U(±√3·0.5/√fan_in)
    /// (std 0.5/√fan_in), the head hp.HeadRows again; 20+: q, k and v one parameter attn.qkv_w (3, Dim, Dim).
    /// </summary>
    public static void AssertRecordStart(RecordGpt ours, int record)
    {
        int Setting(string name) => Speedrun.Benchmark.Runs.LoadedProgram.Get<int>(ours.Hyperparameters, name);
        var expected = new List<string> { "wte.weight" };
        if (record >= 8) expected.Add("lm_head.weight");
        if (record >= 11) expected.Add("skip_weights");
        if (record is 14 or 15) expected.Add("vte.weight");
        int tables = record >= 17 ? Setting("ValueEmbeddingTables") : record == 16 ? ours.Size.Layers / 2 : 0;
        expected.AddRange(Enumerable.Range(0, tables).Select(i => $"ve.{i}.weight"));
        int withoutAttention = record >= 17 ? Setting("LayerWithoutAttention") : -1;
        for (int l = 0; l < ours.Size.Layers; l++)
        {
            if (l != withoutAttention && record >= 20)
                expected.AddRange([$"h.{l}.attn.qkv_w", $"h.{l}.attn.c_proj.weight"]);
            else if (l != withoutAttention)
                expected.AddRange(new[] { "attn.c_q", "attn.c_k", "attn.c_v", "attn.c_proj" }.Select(m => $"h.{l}.{m}.weight"));
            expected.AddRange(new[] { "mlp.c_fc", "mlp.c_proj" }.Select(m => $"h.{l}.{m}.weight"));
            if (record >= 9) expected.Add($"h.{l}.lambdas");
            if (record >= 9 && l != withoutAttention) expected.Add(record >= 15 ? $"h.{l}.attn.lambdas" : $"h.{l}.attn.lamb");
        }
        var named = ours.Model.NamedParameters();
        Assert.Equal(expected.Order(), named.Select(p => p.Name).Order());

        foreach (var (name, p) in named)
        {
            var values = p.ToArray();
            if ((name == "wte.weight" && record >= 8) || name == "vte.weight" || name.StartsWith("ve."))
            {
                if (name == "vte.weight") // one Dim-wide slice a layer (14), or a layer of the encoder (15)
                    Assert.Equal([ours.Size.Vocab, (record == 14 ? ours.Size.Layers : ours.Size.Layers / 2) * ours.Size.Dim], p.Shape);
                else if (record >= 17) // GPT-2's rows, not the head's padded ones
                    Assert.Equal([Setting("Vocab"), ours.Size.Dim], p.Shape);
                else if (name.StartsWith("ve."))
                    Assert.Equal([ours.Size.Vocab, ours.Size.Dim], p.Shape);
                double mean = values.Average(v => (double)v), std = Math.Sqrt(values.Average(v => (double)v * v) - mean * mean);
                Assert.True(Math.Abs(mean) < 5 / Math.Sqrt(values.Length) && Math.Abs(std - 1) < 0.02, $"{name}: mean {mean}, std {std}, not N(0, 1)");
                if (record >= 10)
                    Assert.True(values.All(v => BFloat16.FromFloat(v).ToFloat() == v), $"{name}: not bf16 values");
            }
            else if (name == "lm_head.weight" || name.EndsWith("c_proj.weight"))
            {
                if (name == "lm_head.weight" && record >= 17)
                    Assert.Equal([record == 18 ? Setting("Vocab") : (Setting("Vocab") + 127) / 128 * 128, ours.Size.Dim], p.Shape);
                Assert.True(values.All(v => v == 0), $"{name}: not all zeros");
            }
            else if (name.EndsWith(".weight") || name.EndsWith(".qkv_w"))
            {
                if (name.EndsWith(".qkv_w")) Assert.Equal([3, ours.Size.Dim, ours.Size.Dim], p.Shape);
                double gain = record >= 19 ? Math.Sqrt(3) * 0.5 : 1;
                double bound = gain / Math.Sqrt(p.Shape[^1]), std = Math.Sqrt(values.Average(v => (double)v * v));
                Assert.True(values.All(v => Math.Abs(v) <= bound) && Math.Abs(std * Math.Sqrt(3) / bound - 1) < 0.03,
                    $"{name}: rms {std}, not U(±{bound})");
            }
            else
                Assert.Equal(name switch
                {
                    "skip_weights" => Enumerable.Repeat(1f, ours.Size.Layers - ours.Size.Layers / 2).ToArray(),
                    _ when name.EndsWith(".attn.lambdas") => [0.5f, 0.5f],
                    _ when name.EndsWith(".lambdas") => [1f, 0f],
                    _ => [0.5f],
                }, values);
        }
    }
}
