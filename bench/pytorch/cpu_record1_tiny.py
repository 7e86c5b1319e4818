"""Record 1 (records/01-llmc-baseline/Train.cs) on the tiny track, in PyTorch fp32 on the CPU: the reference that
bench/cpu-vs-pytorch.sh times side by side with ours (issue 13, item 1). Our own code, written from our Train.cs.

What it reproduces, each from the file named:
  sizes      tracks/tiny.json through Hyperparameters.ForTrack: width 128, 12 layers, head size 64 (2 heads), T 1024,
             vocab 50257, round(256 * batch_scale) = 1 sequence per step (micro-batch 1, no accumulation),
             round(24576 * step_scale) = 384 steps, round(256 * step_scale) = 4 warm-up steps, validation every
             val_every steps and at the end on val_tokens tokens.
  model      pre-norm weightless RMSNorm (eps 1e-6) before attention, before the MLP and before the head; fused qkv
             Linear (no bias), causal softmax attention at 1/sqrt(64), the attention branch times 1/sqrt(2 * layers),
             4x MLP with exact-erf GELU, learned positions, the token embedding tied to the head; mean cross-entropy
             over the 50257 classes (ours pads the head to 50304 columns that the loss ignores: the same maths).
  init       by default the same bits as ours (--init dotnet): .NET's seeded System.Random (the subtractive
             generator `new Random(seed)` uses) drawn in our order: wte, wpe N(0, 0.02) by Box-Muller, then per
             block qkv, attn proj, fc, mlp proj U(+-1/sqrt(fan_in)). --init torch draws the same laws from torch's RNG.
  optimizer  one AdamW group over every parameter: lr 1.5e-3, betas (0.9, 0.95), eps 1e-8, decoupled weight decay 0.1;
             lr scale (step+1)/warmup during warm-up, then (0.1 + 1 - decay) / 1.1 with decay = (step - warmup) /
             (steps - warmup); clip_grad_norm_ at 1.0 before the step.
  data       src/Speedrun.Core/Data: shards of 256 little-endian int32 (magic 20240520, version 1, token count) then
             uint16 tokens; the train shards sorted by name, read as DistributedDataLoader at rank 0, world 1: B*T+1
             tokens at pos, pos += B*T, next shard (wrapping) at pos 0 when pos + B*T + 1 passes the end.
  validation the harness gives our program the "monitor" tokens (MonitorSet.cs: val stream tokens V+1 .. 2V+1) for its
             own val lines, and scores the saved model on stream tokens 0 .. V. Here the val lines use the monitor
             tokens too; the final JSON's val_loss is the scored tokens' (what `speedrun train` prints as the verdict's
             val_loss), monitor_val_loss the last val line's. Batches of the micro-batch size, as RunContext.Validate.
  timing     TrainClock.cs: train_time counts steps 10.. (the first 10 are untimed), from the start of a step through
             its log line, and stops while validating; step_avg = train_time / (steps done - 10).

Prints the speedrun's step and val lines, then one JSON line (train_time_ms, val_loss, steps, threads, torch,
allocator, blas, ...). Threads: torch.set_num_threads(--threads, default 2). Run it as bench/cpu-vs-pytorch.sh does:
OpenBLAS as the system BLAS (Debian's python3-torch otherwise links the reference BLAS, ~10x slower), jemalloc
preloaded with MALLOC_CONF=dirty_decay_ms:-1,muzzy_decay_ms:-1, OMP_WAIT_POLICY=PASSIVE, OMP_NUM_THREADS and
OPENBLAS_NUM_THREADS = --threads (PyTorch is about 4x slower on this VM without the allocator and the passive wait).
--max-steps N stops early for a smoke test (at seed 0 the step losses equal ours: 10.8084, 10.6177, ... to 4 decimals).

torch 1.13 (Debian 12's) has no fused attention: the causal scores are computed in full, masked and softmaxed; with
torch >= 2.0 F.scaled_dot_product_attention is used instead.
"""
import argparse, glob, json, math, os, sys, time

import numpy as np
import torch
import torch.nn.functional as F

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MAGIC, VERSION, HEADER_INTS = 20240520, 1, 256
UNTIMED_STEPS = 10


# ------------------------------------------------------------------------------------------------------------------
# Hyperparameters: the record's own values scaled by the track, as Hyperparameters.ForTrack does.

def round_half_even(x):
    return int(round(x))  # Python's round is banker's rounding, as .NET's Math.Round


def hyperparameters(track):
    steps = lambda n: 0 if n == 0 else max(1, round_half_even(n * track.get("step_scale", 1.0)))
    sequences = max(1, round_half_even(8 * 32 * track.get("batch_scale", 1.0)))
    hp = dict(layers=12, dim=track.get("width") or 768, head_dim=64, vocab=50257, seq_len=1024,
              sequences_per_step=sequences, micro_batch=min(32, sequences), steps=steps(24576),
              warmup=steps(256), lr=1.5e-3, weight_decay=0.1, grad_clip=1.0, eps=1e-6,
              val_every=track.get("val_every", 125), val_tokens=int(track["val_tokens"]))
    assert hp["sequences_per_step"] % hp["micro_batch"] == 0 and hp["dim"] % hp["head_dim"] == 0
    hp["heads"] = hp["dim"] // hp["head_dim"]
    hp["accumulation"] = hp["sequences_per_step"] // hp["micro_batch"]
    return hp


def lr_scale(hp, step):
    # float32 arithmetic, as the record's LearningRateScale (float) times InitialLr (float)
    f = np.float32
    if step < hp["warmup"]:
        s = f(step + 1) / f(hp["warmup"])
    else:
        decay = f(step - hp["warmup"]) / f(hp["steps"] - hp["warmup"])
        s = (f(0.1) + (f(1) - decay)) / f(1.1)
    return float(f(hp["lr"]) * f(s))


# ------------------------------------------------------------------------------------------------------------------
# Shards

def shard_tokens(path):
    header = np.fromfile(path, dtype="<i4", count=HEADER_INTS)
    if len(header) < HEADER_INTS or header[0] != MAGIC or header[1] != VERSION:
        sys.exit(f"{path}: not a speedrun shard (magic {MAGIC}, version {VERSION})")
    count = int(header[2])
    if os.path.getsize(path) != HEADER_INTS * 4 + 2 * count:
        sys.exit(f"{path}: length does not match its header's {count} tokens")
    return np.memmap(path, dtype="<u2", mode="r", offset=HEADER_INTS * 4, shape=(count,))


def shard_files(pattern):
    files = sorted(glob.glob(os.path.expanduser(pattern)))  # ordinal order, as ShardSet
    if not files:
        sys.exit(f"no shards match {pattern}")
    return files


class TrainLoader:
    """DistributedDataLoader at rank 0 of world 1."""

    def __init__(self, files, batch, seq_len):
        self.files, self.n = files, batch * seq_len
        self.batch, self.seq_len = batch, seq_len
        self.counts = [len(shard_tokens(f)) for f in files]
        for f, c in zip(files, self.counts):
            if c < self.n + 1:
                sys.exit(f"{f}: {c} tokens, fewer than one batch of {self.n + 1}")
        self.shard, self.tokens, self.pos = 0, shard_tokens(files[0]), 0

    def next(self):
        window = torch.from_numpy(np.asarray(self.tokens[self.pos:self.pos + self.n + 1], dtype=np.int64))
        self.pos += self.n
        if self.pos + self.n + 1 > self.counts[self.shard]:
            self.shard = (self.shard + 1) % len(self.files)
            self.tokens, self.pos = shard_tokens(self.files[self.shard]), 0
        return window[:-1].view(self.batch, self.seq_len), window[1:].view(self.batch, self.seq_len)


def val_stream(files, start, count):
    """Tokens [start, start + count) of the val shards read as one stream."""
    stream = np.concatenate([np.asarray(shard_tokens(f)) for f in files])
    if len(stream) < start + count:
        sys.exit(f"the val shards hold {len(stream)} tokens; {start + count} are needed")
    return torch.from_numpy(stream[start:start + count].astype(np.int64))


# ------------------------------------------------------------------------------------------------------------------
# .NET's seeded System.Random (the subtractive generator behind `new Random(seed)`), vectorised: the sequence obeys
# x[t] = x[t-55] - x[t-34] mod (2^31 - 1), so 34 draws at a time depend only on draws already made.

class DotnetRandom:
    MBIG, MSEED = 2147483647, 161803398

    def __init__(self, seed):
        a = [0] * 56
        mj = self.MSEED - (self.MBIG if seed == -2 ** 31 else abs(seed))
        a[55], mk, ii = mj, 1, 0
        for _ in range(1, 55):
            ii = (ii + 21) % 55
            a[ii] = mk
            mk = mj - mk
            if mk < 0:
                mk += self.MBIG
            mj = a[ii]
        for _ in range(4):
            for i in range(1, 56):
                a[i] -= a[1 + (i + 30) % 55]
                if a[i] < 0:
                    a[i] += self.MBIG
        self.history = np.array(a[1:56], dtype=np.int64)  # positions 1..55: the last 55 draws, oldest first

    def doubles(self, count):
        out = np.empty(count + 55, dtype=np.int64)
        out[:55] = self.history
        t = 55
        while t < count + 55:
            k = min(34, count + 55 - t)
            v = out[t - 55:t - 55 + k] - out[t - 34:t - 34 + k]
            v[v < 0] += self.MBIG
            out[t:t + k] = v
            t += k
        self.history = out[-55:].copy()
        return out[55:].astype(np.float64) * (1.0 / self.MBIG)


def dotnet_normal(rng, count, std):
    d = rng.doubles(count + (count & 1)).reshape(-1, 2)
    r = np.sqrt(-2.0 * np.log(1.0 - d[:, 0])) * std
    a = np.stack([r * np.cos(2 * np.pi * d[:, 1]), r * np.sin(2 * np.pi * d[:, 1])], axis=1).reshape(-1)[:count]
    return a.astype(np.float32)


def dotnet_uniform(rng, count, bound):
    return ((rng.doubles(count) * 2 - 1) * bound).astype(np.float32)


# ------------------------------------------------------------------------------------------------------------------
# Model

def rms_norm(x, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)


class Block(torch.nn.Module):
    def __init__(self, hp):
        super().__init__()
        d = hp["dim"]
        self.heads, self.eps = hp["heads"], hp["eps"]
        self.attn_scale = 1.0 / math.sqrt(2 * hp["layers"])
        self.qkv = torch.nn.Parameter(torch.empty(3 * d, d))
        self.attn_proj = torch.nn.Parameter(torch.empty(d, d))
        self.fc = torch.nn.Parameter(torch.empty(4 * d, d))
        self.mlp_proj = torch.nn.Parameter(torch.empty(d, 4 * d))

    def attention(self, x, mask):
        b, t, d = x.shape
        hd = d // self.heads
        q, k, v = F.linear(x, self.qkv).split(d, dim=-1)
        q, k, v = (z.view(b, t, self.heads, hd).transpose(1, 2) for z in (q, k, v))
        if hasattr(F, "scaled_dot_product_attention"):  # torch >= 2.0
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))
            y = torch.softmax(scores.masked_fill(mask, float("-inf")), dim=-1) @ v
        return y.transpose(1, 2).reshape(b, t, d)

    def forward(self, x, mask):
        x = x + self.attn_scale * F.linear(self.attention(rms_norm(x, self.eps), mask), self.attn_proj)
        return x + F.linear(F.gelu(F.linear(rms_norm(x, self.eps), self.fc)), self.mlp_proj)


class Gpt(torch.nn.Module):
    def __init__(self, hp):
        super().__init__()
        self.hp = hp
        self.wte = torch.nn.Parameter(torch.empty(hp["vocab"], hp["dim"]))
        self.wpe = torch.nn.Parameter(torch.empty(hp["seq_len"], hp["dim"]))
        self.blocks = torch.nn.ModuleList(Block(hp) for _ in range(hp["layers"]))
        t = hp["seq_len"]
        self.register_buffer("mask", torch.ones(t, t, dtype=torch.bool).triu(1), persistent=False)

    def init_weights(self, how, seed):
        """Our init order and laws; `dotnet` reproduces ours bit for bit (from .NET's Random(seed))."""
        tensors = [(self.wte, "normal", 0.02), (self.wpe, "normal", 0.02)]
        for b in self.blocks:
            tensors += [(b.qkv, "uniform", None), (b.attn_proj, "uniform", None), (b.fc, "uniform", None),
                        (b.mlp_proj, "uniform", None)]
        rng = DotnetRandom(seed) if how == "dotnet" else None
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p, law, std in tensors:
                bound = 1.0 / math.sqrt(p.shape[1])  # nn.Linear's default: U(+-1/sqrt(fan_in))
                if rng is not None:
                    v = dotnet_normal(rng, p.numel(), std) if law == "normal" else dotnet_uniform(rng, p.numel(), bound)
                    p.copy_(torch.from_numpy(v).view_as(p))
                elif law == "normal":
                    p.normal_(0.0, std, generator=gen)
                else:
                    p.uniform_(-bound, bound, generator=gen)

    def forward(self, idx, targets):
        t = idx.shape[1]
        x = F.embedding(idx, self.wte) + self.wpe[:t]
        mask = self.mask[:t, :t]
        for block in self.blocks:
            x = block(x, mask)
        logits = F.linear(rms_norm(x, self.hp["eps"]), self.wte)  # tied head
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.reshape(-1))


# ------------------------------------------------------------------------------------------------------------------

def loaded(*names):
    """The first of `names` found among this process's mapped libraries, else None."""
    try:
        with open("/proc/self/maps") as f:
            maps = f.read()
    except OSError:
        return None
    return next((n for n in names if n in maps), None)


def blas():
    return {"libopenblas": "openblas", "libmkl": "mkl", "libblis": "blis", "libblas.so": "reference"}.get(
        loaded("libopenblas", "libmkl", "libblis", "libblas.so"), "unknown")


def allocator():
    try:
        with open("/proc/self/maps") as f:
            maps = f.read()
    except OSError:
        return "unknown"
    return "jemalloc" if "libjemalloc" in maps else ("tcmalloc" if "libtcmalloc" in maps else "default")


def evaluate(model, tokens, batch, seq_len):
    """Mean loss over len(tokens) - 1 tokens in batches of at most `batch` sequences that tile them exactly."""
    sequences = (len(tokens) - 1) // seq_len
    b = batch
    while sequences % b:
        b -= 1
    total = 0.0
    with torch.no_grad():
        for i in range(sequences // b):
            w = tokens[i * b * seq_len:(i + 1) * b * seq_len + 1]
            total += model(w[:-1].view(b, seq_len), w[1:].view(b, seq_len)).item()
    return total / (sequences // b)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--track", default=os.path.join(REPO, "tracks", "tiny.json"))
    ap.add_argument("--train", help="train shard pattern (default: the default corpus under ~/.cache/speedrun)")
    ap.add_argument("--val", help="val shard pattern (default: the default corpus under ~/.cache/speedrun)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init", choices=["dotnet", "torch"], default="dotnet",
                    help="dotnet: our initial weights bit for bit (default); torch: the same laws from torch's RNG")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-steps", "--steps", type=int, dest="max_steps",
                    help="stop after this many steps (a smoke test; the schedule stays the track's)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    with open(args.track) as f:
        track = json.load(f)
    hp = hyperparameters(track)
    if args.train is None or args.val is None:
        corpora = sorted(glob.glob(os.path.expanduser("~/.cache/speedrun/corpus/*/")))
        if len(corpora) != 1:
            sys.exit("give --train and --val (the patterns `speedrun data corpus` prints)")
        args.train = args.train or os.path.join(corpora[0], "train_*.bin")
        args.val = args.val or os.path.join(corpora[0], "val_*.bin")
    T, B, V = hp["seq_len"], hp["micro_batch"], hp["val_tokens"]
    if V % T:
        sys.exit(f"val_tokens {V} is not a multiple of the sequence length {T}")
    steps = hp["steps"]
    run_steps = steps if args.max_steps is None else min(steps, args.max_steps)

    print(f"torch {torch.__version__} | threads {torch.get_num_threads()} | BLAS {blas()} | allocator {allocator()} "
          f"(MALLOC_CONF={os.environ.get('MALLOC_CONF', '')}) | OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '')} | "
          f"seed {args.seed} | init {args.init}")
    print("hyperparameters: " + " ".join(f"{k}={v}" for k, v in hp.items()))
    print(f"data: train {args.train} | val {args.val} ({V} tokens)")

    model = Gpt(hp)
    model.init_weights(args.init, args.seed)
    params = list(model.parameters())
    print(f"parameters: {sum(p.numel() for p in params):,}")
    optimizer = torch.optim.AdamW(params, lr=hp["lr"], betas=(0.9, 0.95), eps=1e-8, weight_decay=hp["weight_decay"])
    loader = TrainLoader(shard_files(args.train), B, T)
    val_files = shard_files(args.val)
    monitor = val_stream(val_files, V + 1, V + 1)   # what our program's own val lines read
    scored = val_stream(val_files, 0, V + 1)        # what the harness scores the saved model on

    elapsed, started = 0.0, None
    def clock_ms():
        return 1000 * (elapsed + (time.perf_counter() - started if started is not None else 0.0))
    def step_avg(ms, done):
        return ms / (done - UNTIMED_STEPS) if done > UNTIMED_STEPS else 0.0

    monitor_loss, done = float("nan"), 0
    for step in range(run_steps + 1):
        last = step == run_steps
        if last or step % hp["val_every"] == 0:
            if started is not None:  # pause the clock, as RunContext.Validate
                elapsed += time.perf_counter() - started
                started = None
            model.eval()
            monitor_loss = evaluate(model, monitor, B, T)
            model.train()
            ms = clock_ms()
            print(f"step:{step}/{steps} val_loss:{monitor_loss:.4f} train_time:{ms:.0f}ms "
                  f"step_avg:{step_avg(ms, done):.2f}ms", flush=True)
        if last:
            break

        if step >= UNTIMED_STEPS and started is None:
            started = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        train_loss = 0.0
        for _ in range(hp["accumulation"]):
            x, y = loader.next()
            loss = model(x, y)
            (loss / hp["accumulation"]).backward()
            train_loss += loss.detach() / hp["accumulation"]
        torch.nn.utils.clip_grad_norm_(params, hp["grad_clip"])
        for group in optimizer.param_groups:
            group["lr"] = lr_scale(hp, step)
        optimizer.step()
        done = step + 1
        ms = clock_ms()
        print(f"step:{done}/{steps} train_loss:{float(train_loss):.4f} train_time:{ms:.0f}ms "
              f"step_avg:{step_avg(ms, done):.2f}ms", flush=True)
        if not math.isfinite(float(train_loss)):
            sys.exit(f"diverged: train loss {float(train_loss)} at step {done}")

    model.eval()
    val_loss = evaluate(model, scored, B, T)
    print(json.dumps({"train_time_ms": round(clock_ms(), 1), "val_loss": round(val_loss, 6),
                      "monitor_val_loss": round(monitor_loss, 6), "steps": done, "threads": torch.get_num_threads(),
                      "torch": torch.__version__, "allocator": allocator(),
                      "malloc_conf": os.environ.get("MALLOC_CONF", ""), "blas": blas(), "seed": args.seed, "init": args.init,
                      "step_avg_ms": round(step_avg(clock_ms(), done), 2)}))


if __name__ == "__main__":
    main()
