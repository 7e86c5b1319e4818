"""Record 1's model (GPT-2 124M as our records/01-llmc-baseline/Train.cs builds it) trained with PyTorch,
to time a training step on the same card in the same call as `speedrun doctor`.

Same shapes and maths as our program: 12 layers, d 768, 12 heads, vocab 50257, T 1024, weightless RMSNorm
(eps 1e-6), learned positions, tied head, exact-erf GELU, attention branch scaled by 1/sqrt(24), bf16
autocast for the forward pass, AdamW (0.9, 0.95, wd 0.1) with gradient clipping at 1.0. One timed step =
one micro-batch of B x T tokens forward + backward + clip + AdamW, as the doctor times ours.
Tokens come from a speedrun .bin shard (header 256 int32, then uint16 tokens).
"""
import argparse, json, math, statistics, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_tokens(path, count):
    header = np.fromfile(path, dtype=np.int32, count=256)
    assert header[0] == 20240520 and header[1] == 1, f"{path}: not a speedrun shard"
    tokens = np.fromfile(path, dtype=np.uint16, offset=1024, count=min(int(header[2]), count))
    reps = math.ceil(count / len(tokens))
    return torch.from_numpy(np.tile(tokens, reps)[:count].astype(np.int64))


def rms_norm(x):
    return (x.float() * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + 1e-6)).type_as(x)


class Block(nn.Module):
    def __init__(self, d, heads, layers):
        super().__init__()
        self.heads = heads
        self.c_attn = nn.Linear(d, 3 * d, bias=False)
        self.attn_proj = nn.Linear(d, d, bias=False)
        self.c_fc = nn.Linear(d, 4 * d, bias=False)
        self.mlp_proj = nn.Linear(4 * d, d, bias=False)
        self.scale = 1 / math.sqrt(2 * layers)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.c_attn(rms_norm(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, t, d)
        x = x + self.scale * self.attn_proj(y)
        return x + self.mlp_proj(F.gelu(self.c_fc(rms_norm(x))))


class Gpt(nn.Module):
    def __init__(self, layers=12, d=768, heads=12, vocab=50257, seq=1024):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(seq, d)
        nn.init.normal_(self.wte.weight, std=0.02)
        nn.init.normal_(self.wpe.weight, std=0.02)
        self.blocks = nn.ModuleList(Block(d, heads, layers) for _ in range(layers))

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1], device=idx.device))
        for block in self.blocks:
            x = block(x)
        logits = F.linear(rms_norm(x), self.wte.weight)
        return F.cross_entropy(logits.float().view(-1, logits.shape[-1]), targets.view(-1))


def time_training(model, batches, steps, warmup):
    opt = torch.optim.AdamW(model.parameters(), lr=1.5e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1, fused=True)
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for i in range(warmup + steps):
        x, y = batches[i % len(batches)]
        start.record()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        stop.record()
        stop.synchronize()
        if i >= warmup:
            times.append(start.elapsed_time(stop))
    return statistics.median(times), float(loss)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shard", required=True)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--json", required=True)
    ap.add_argument("--modes", default="eager,compiled")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.backends.cuda.matmul.allow_tf32 = True
    seq = 1024
    tokens = read_tokens(args.shard, 4 * args.batch * seq + 1).cuda()
    batches = []
    for i in range(4):
        chunk = tokens[i * args.batch * seq: (i + 1) * args.batch * seq + 1]
        batches.append((chunk[:-1].view(args.batch, seq), chunk[1:].view(args.batch, seq)))
    results = []
    for mode in args.modes.split(","):
        model = Gpt().cuda()
        runner = torch.compile(model) if mode == "compiled" else model
        t0 = time.time()
        ms, loss = time_training(runner, batches, args.steps, warmup=3 if mode == "eager" else 5)
        tok_s = args.batch * seq / (ms / 1000)
        results.append({"mode": mode, "batch": args.batch, "seq": seq, "ms_per_step": ms, "tokens_per_s": tok_s,
                        "last_loss": loss, "wall_s": time.time() - t0,
                        "peak_mem_gib": torch.cuda.max_memory_allocated() / 2**30})
        print(f"pytorch {mode}: {ms:.1f} ms/step ({args.batch}x{seq} tokens), {tok_s:,.0f} tokens/s, loss {loss:.3f}", flush=True)
        del model, runner
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    with open(args.json, "w") as f:
        json.dump({"device": torch.cuda.get_device_name(), "torch": torch.__version__, "runs": results}, f, indent=2)


if __name__ == "__main__":
    main()
