"""One training step of records 12, 19 and 21 in PyTorch, as the records' original scripts compute it, at the
sizes `speedrun doctor --record` times ours (records/NN-*/Train.cs): the card's reference for our step times.

Our own reference code, written from the records' descriptions (modded-nanogpt records/track_1_short/2024-11-19,
2025-01-13 and 2025-01-26) at world size 1, each GPU's share of a step:
  12-flex-attention  one 65,536-token stream; 12 layers, width 768, 6 heads of 128; bf16 embedding and scalars, fp32
                     Linear weights cast to bf16; QK-norm, rotary (base 10000, bf16 tables), values mixed with layer 0's
                     (lamb), ReLU^2 MLP, U-net skips, 50,304-row embedding and head, logits 30 tanh(z/30);
                     FlexAttention under create_block_mask(causal & same document & q - k < 1024);
                     Adam (0.9, 0.95) for the embedding, the head and the scalars, Muon (lr 0.04, SGD momentum, Nesterov).
  19-fp8-lm-head     one 65,536-token stream; 3 value embeddings (layers 0-2 and 9-11), no attention in layer 7,
                     half-truncated rotary (base 1024, fp32 tables), bf16 embeddings and fp32 everything else, the head
                     in FP8 (torch._scaled_mm: e4m3 x*2 and W*32 forward with fast accumulation, e5m2 grad*2^29
                     backward), logits 30 sigmoid(z/7.5); a block mask built from 128-token blocks (causal, document
                     ranges, the final window of 14 blocks); one Adam (0.8, 0.95) with three groups, Muon (lr 0.05, lerp
                     momentum).
  21-batch-size      record 20 + 19's FP8 head: one 49,152-token stream; merged (3, 768, 768) q/k/v weight (batched
                     Newton-Schulz), attention scale 0.12, long and short windows (14 and 7 blocks) in the pattern
                     LSSSLS|SLSSSL built by clamping the window-less block lists, FP8 scales 2, 2^9, 2^19, Adam eps 1e-10,
                     rotary tables for 256K positions.

Modes: "eager" runs the model op by op (flex_attention and create_block_mask compiled, as they have no eager kernel
at 64K); "compiled" is what the records run: torch.compile(model), Newton-Schulz compiled (coordinate-descent tuning
only with --tuned: it costs minutes of compile). In both modes the block masks are built in the step, outside the
model, from one end-of-text count per step (the originals build them inside the compiled forward).

One timed step, as the doctor times ours: build the masks, forward + backward of the stream (CUDA event), every
optimizer and zero_grad (CUDA event); the median of --steps steps after --warmup (compilation happens in the first).
Tokens: the first T + 1 tokens of --shard (repeated if short), the same ones the doctor reads, so both sides see the
same documents and masks.

Each (record, mode) runs in its own process under its own time limit (--case-budget seconds, and what is left of
--deadline), so a crash, an out-of-memory or a compile that runs long loses that case only. Results go under the key
"record_steps" of --json (other keys are kept), rewritten after every case. record_steps_smoke.py runs this code on a
CPU with torch 1.13 and stand-ins for FlexAttention, fp8 and torch.compile (block masks against the records' predicates).
"""
import argparse, json, os, signal, statistics, subprocess, sys, tempfile, time
from dataclasses import dataclass

EOT, BLOCK = 50256, 128


@dataclass(frozen=True)
class Record:
    name: str
    seq_len: int
    embed_rows: int             # token (and value) embedding rows; the head has 50,304
    value_embeds: bool          # 19, 21: three tables, used by layers 0-2 and 9-11
    no_attention_layer: int     # -1: every layer attends
    merged_qkv: bool
    attn_scale: float | None    # None: 1/sqrt(head dim)
    window: str                 # "tokens1024" (12), "blocks" (19), "long-short" (21)
    fp8: tuple | None           # (x scale, w scale, grad scale) of the FP8 head
    adam: tuple                 # (beta1, eps)
    muon_lr: float
    rotary_positions: int


RECORDS = {r.name: r for r in [
    Record("12-flex-attention", seq_len=64 * 1024, embed_rows=50304, value_embeds=False, no_attention_layer=-1,
           merged_qkv=False, attn_scale=None, window="tokens1024", fp8=None, adam=(0.9, 1e-8), muon_lr=0.04,
           rotary_positions=64 * 1024),
    Record("19-fp8-lm-head", seq_len=64 * 1024, embed_rows=50257, value_embeds=True, no_attention_layer=7,
           merged_qkv=False, attn_scale=None, window="blocks", fp8=(2.0, 32.0, 2.0 ** 29), adam=(0.8, 1e-8), muon_lr=0.05,
           rotary_positions=64 * 1024),
    Record("21-batch-size", seq_len=48 * 1024, embed_rows=50257, value_embeds=True, no_attention_layer=7,
           merged_qkv=True, attn_scale=0.12, window="long-short", fp8=(2.0, 2.0 ** 9, 2.0 ** 19), adam=(0.8, 1e-10),
           muon_lr=0.05, rotary_positions=256 * 1024),
]}
LAYERS, DIM, HEADS, HEAD_DIM, HEAD_ROWS = 12, 768, 6, 128, 50304
WINDOW_BLOCKS = 14  # the final window of records 19 and 21: next_multiple_of_n(1728, 128) = 1792 tokens
DEVICE = "cuda"


def read_tokens(path, count):
    """The first `count` tokens of a speedrun shard (256 int32 header, then uint16 tokens), repeated if short."""
    import array, struct
    with open(path, "rb") as f:
        head = f.read(1024)
        magic, version, n = struct.unpack("<3i", head[:12]) if len(head) == 1024 else (0, 0, 0)
        if magic != 20240520 or version != 1:
            raise SystemExit(f"record_steps: {path} is not a speedrun shard (magic 20240520, version 1)")
        tokens = array.array("H")
        tokens.frombytes(f.read(2 * min(n, count)))
    if sys.byteorder != "little":
        tokens.byteswap()
    if len(tokens) == 0:
        raise SystemExit(f"record_steps: {path} holds no tokens")
    return [tokens[i % len(tokens)] for i in range(count)]


# ----------------------------------------------------------------------------------------------------------------------
# The models (run in the child process only: the parent never imports torch)

def build(rec, compiled):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch.nn.attention.flex_attention import BlockMask, create_block_mask, flex_attention

    norm = lambda x: F.rms_norm(x, (x.size(-1),))
    attend = flex_attention if compiled else torch.compile(flex_attention, dynamic=False)

    class CastedLinear(nn.Linear):
        def __init__(self, fan_in, fan_out, zero=False):
            super().__init__(fan_in, fan_out, bias=False)
            if zero:
                self.weight.detach().zero_()

        def forward(self, x):
            return F.linear(x, self.weight.type_as(x))

    class Fp8Head(torch.autograd.Function):
        """y = x W^T through fp8 (torch._scaled_mm, per-tensor scales); backward in e5m2 for the gradient."""

        @staticmethod
        def forward(ctx, x, w, xs, ws, gs):
            x8, w8 = (x * xs).to(torch.float8_e4m3fn), (w * ws).to(torch.float8_e4m3fn)
            inv = lambda s: x.new_tensor(1 / s, dtype=torch.float32)
            y = torch._scaled_mm(x8, w8.t(), out_dtype=torch.bfloat16, scale_a=inv(xs), scale_b=inv(ws), use_fast_accum=True)
            ctx.save_for_backward(x8, w8)
            ctx.scales = (xs, ws, gs)
            return y

        @staticmethod
        def backward(ctx, dy):
            x8, w8 = ctx.saved_tensors
            xs, ws, gs = ctx.scales
            inv = lambda s: dy.new_tensor(1 / s, dtype=torch.float32)
            g8 = (dy * gs).to(torch.float8_e5m2)
            dx = torch._scaled_mm(g8, w8.t().contiguous().t(), out_dtype=torch.bfloat16, scale_a=inv(gs), scale_b=inv(ws))
            dw = torch._scaled_mm(x8.t().contiguous(), g8.t().contiguous().t(), out_dtype=torch.float32,
                                  scale_a=inv(xs), scale_b=inv(gs)).t()
            return dx, dw, None, None, None

    class Rotary(nn.Module):
        def __init__(self):
            super().__init__()
            if rec.name.startswith("12"):  # base 10000 over every pair, bf16 tables, products in bf16
                freq = 1.0 / (10000 ** (torch.arange(0, HEAD_DIM, 2).float() / HEAD_DIM))
                dtype = torch.bfloat16
            else:  # half-truncated: (1/1024)^linspace(0, 1) on a quarter of the dims, zeros after; fp32
                freq = (1 / 1024) ** torch.linspace(0, 1, steps=HEAD_DIM // 4)
                freq, dtype = torch.cat([freq, freq.new_zeros(HEAD_DIM // 4)]), torch.float32
            theta = torch.outer(torch.arange(rec.rotary_positions).float(), freq)
            self.cos = nn.Buffer(theta.cos().to(dtype), persistent=False)
            self.sin = nn.Buffer(theta.sin().to(dtype), persistent=False)

        def forward(self, x):  # (B, T, H, D)
            t = x.size(1)
            cos, sin = self.cos[None, :t, None, :], self.sin[None, :t, None, :]
            x1, x2 = x.to(cos.dtype).chunk(2, dim=-1)
            return torch.cat([x1 * cos + x2 * sin, x1 * (-sin) + x2 * cos], 3).type_as(x)

    class Attention(nn.Module):
        def __init__(self, rotary):
            super().__init__()
            if rec.merged_qkv:
                self.qkv_w = nn.Parameter(torch.empty(3, DIM, DIM).uniform_(-0.5 * 3 ** 0.5 / DIM ** 0.5, 0.5 * 3 ** 0.5 / DIM ** 0.5))
            else:
                self.c_q, self.c_k, self.c_v = CastedLinear(DIM, DIM), CastedLinear(DIM, DIM), CastedLinear(DIM, DIM)
            self.lambdas = nn.Parameter(torch.tensor(0.5) if rec.name.startswith("12") else torch.tensor([0.5, 0.5]))
            self.c_proj = CastedLinear(DIM, DIM, zero=True)
            self.rotary = rotary

        def forward(self, x, mix, mask):
            b, t = x.size(0), x.size(1)
            if rec.merged_qkv:
                q, k, v = F.linear(x, self.qkv_w.flatten(end_dim=1).type_as(x)).view(b, t, 3 * HEADS, HEAD_DIM).chunk(3, dim=-2)
            else:
                q, k, v = (lin(x).view(b, t, HEADS, HEAD_DIM) for lin in (self.c_q, self.c_k, self.c_v))
            if rec.name.startswith("12"):  # value residual: mix is layer 0's values (None in layer 0), handed on
                mix = v if mix is None else mix
                v = (1 - self.lambdas) * v + self.lambdas * mix.view_as(v)
            elif mix is not None:  # value embedding: mix is this layer's table lookup
                v = self.lambdas[0] * v + self.lambdas[1] * mix.view_as(v)
            else:
                v = self.lambdas[0] * v
            q, k = self.rotary(norm(q)), self.rotary(norm(k))
            kwargs = {} if rec.attn_scale is None else {"scale": rec.attn_scale}
            y = attend(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), block_mask=mask, **kwargs)
            return self.c_proj(y.transpose(1, 2).contiguous().view(b, t, DIM)), mix

    class Block(nn.Module):
        def __init__(self, layer, rotary):
            super().__init__()
            self.attn = None if layer == rec.no_attention_layer else Attention(rotary)
            self.c_fc, self.c_proj = CastedLinear(DIM, 4 * DIM), CastedLinear(4 * DIM, DIM, zero=True)
            self.lambdas = nn.Parameter(torch.tensor([1.0, 0.0]))

        def forward(self, x, mix, x0, mask):
            x = self.lambdas[0] * x + self.lambdas[1] * x0
            if self.attn is not None:
                y, mix = self.attn(norm(x), mix, mask)
                x = x + y
            return x + self.c_proj(F.relu(self.c_fc(norm(x))).square()), mix

    class Gpt(nn.Module):
        def __init__(self):
            super().__init__()
            rotary = Rotary()
            self.embed = nn.Embedding(rec.embed_rows, DIM)
            self.value_embeds = nn.ModuleList(nn.Embedding(rec.embed_rows, DIM) for _ in range(3 if rec.value_embeds else 0))
            self.blocks = nn.ModuleList(Block(i, rotary) for i in range(LAYERS))
            self.skip_weights = nn.Parameter(torch.ones(LAYERS // 2))
            self.lm_head = CastedLinear(DIM, HEAD_ROWS, zero=True)

        def forward(self, inputs, targets, masks):
            x = x0 = norm(self.embed(inputs)[None])
            if rec.value_embeds:
                ve = [table(inputs) for table in self.value_embeds]
                mixes = ve + [None] * (LAYERS - 2 * len(ve)) + ve
            else:
                mixes = [None] * LAYERS  # record 12: layer 0's values, handed on from block to block
            skips, v1 = [], None
            for i, block in enumerate(self.blocks):
                if i >= LAYERS // 2:
                    x = x + self.skip_weights[i - LAYERS // 2] * skips.pop()
                x, v1 = block(x, mixes[i] if rec.value_embeds else v1, x0, masks[i])
                if i < LAYERS // 2:
                    skips.append(x)
            x = norm(x)
            if rec.fp8 is not None and self.training:
                logits = Fp8Head.apply(x.flatten(0, -2), self.lm_head.weight, *rec.fp8)
                logits = 30 * torch.sigmoid(logits.float() / 7.5)
            else:
                logits = self.lm_head(x)
                logits = (30 * torch.tanh(logits / 30)).float() if rec.fp8 is None else 30 * torch.sigmoid(logits.float() / 7.5)
            return F.cross_entropy(logits.view(-1, logits.size(-1)), targets)

    class Masks:
        """The step's block masks, one per layer, from the stream's document ids (a buffer the mask_mod reads, so the
        compiled model sees one mask_mod for every step)."""

        def __init__(self, t):
            self.t, self.n = t, t // BLOCK
            self.docs = torch.zeros(t, dtype=torch.int32, device=DEVICE)
            docs = self.docs
            if rec.window == "tokens1024":
                self.mask_mod = lambda b, h, q, kv: (q >= kv) & (docs[q] == docs[kv]) & (q - kv < 1024)
                self.create = torch.compile(create_block_mask, dynamic=False)
            else:
                self.mask_mod = lambda b, h, q, kv: (q >= kv) & (docs[q] == docs[kv])

        @staticmethod
        def ordered(dense):  # (Q blocks, KV blocks) bools -> counts and indices of the kept blocks
            counts = dense.sum(dim=-1, dtype=torch.int32)
            if rec.window == "blocks":  # record 19: in ascending order
                indices = dense.argsort(dim=-1, descending=True, stable=True)
            else:  # record 21: most recent first, so that clamping a count keeps the nearest blocks
                indices = dense.argsort(dim=-1, descending=False, stable=True).flip(-1)
            return counts[None, None].contiguous(), indices.to(torch.int32)[None, None].contiguous()

        def build(self, inputs):
            self.docs.copy_((inputs == EOT).cumsum(0))
            if rec.window == "tokens1024":
                mask = self.create(self.mask_mod, None, None, self.t, self.t, device=DEVICE, BLOCK_SIZE=BLOCK)
                return [mask] * LAYERS
            blocks = torch.arange(self.n, dtype=torch.int32, device=DEVICE)
            low, high = self.docs.view(-1, BLOCK)[:, 0], self.docs.view(-1, BLOCK)[:, -1]
            any_doc = (low[:, None] <= high) & (high[:, None] >= low)
            all_doc = (low[:, None] == high) & (high[:, None] == low)
            q, kv = blocks[:, None], blocks
            if rec.window == "blocks":  # record 19: the window in the block predicates
                window = q - kv < WINDOW_BLOCKS
                partial = (q >= kv) & window & any_doc
                full = (q > kv) & window & all_doc
                mask = BlockMask.from_kv_blocks(*self.ordered(partial & ~full), *self.ordered(full), BLOCK_SIZE=BLOCK,
                                                mask_mod=self.mask_mod)
                return [mask] * LAYERS
            # record 21: window-less lists, most recent first, clamped to each window's counts
            any_bm, all_bm = (q >= kv) & any_doc, (q > kv) & all_doc
            (pn, pi), (fn, fi) = self.ordered(any_bm & ~all_bm), self.ordered(all_bm)

            def clamp(w):
                return BlockMask.from_kv_blocks(torch.clamp_max(pn, torch.clamp_min(w - fn, 1)), pi, torch.clamp_max(fn, w - 1), fi,
                                                BLOCK_SIZE=BLOCK, mask_mod=self.mask_mod)
            long = clamp(torch.tensor(WINDOW_BLOCKS, dtype=torch.int32, device=DEVICE))
            short = clamp(torch.tensor(WINDOW_BLOCKS // 2, dtype=torch.int32, device=DEVICE))
            encoder = [long if c == "L" else short for c in "LSSSLS"]
            return encoder + encoder[::-1]

    model = Gpt().to(DEVICE)
    if rec.name.startswith("12"):  # model.bfloat16(), then the Linear weights back to fp32
        model.bfloat16()
        for m in model.modules():
            if isinstance(m, CastedLinear):
                m.float()
    else:
        for m in model.modules():
            if isinstance(m, nn.Embedding):
                m.bfloat16()
    return model, Masks(rec.seq_len)


def newton_schulz5(g, steps=5):
    """The records' quintic iteration towards U V^T, in bf16, batched over leading dims (a matrix is one slice)."""
    a, b, c = 3.4445, -4.7750, 2.0315
    x = g.bfloat16()
    tall = g.size(-2) > g.size(-1)
    if tall:
        x = x.mT
    x = x / (x.norm(dim=(-2, -1), keepdim=True) + 1e-7)
    for _ in range(steps):
        s = x @ x.mT
        x = a * x + (b * s + c * s @ s) @ x
    return x.mT if tall else x


class Muon:
    """Muon at world size 1: record 12's form (buf = m buf + g, Nesterov g + m buf, the update scaled by
    sqrt(max(1, rows/cols)) before it is kept in bf16) or records 19/21's (lerp momentum, the scale on the rate)."""

    def __init__(self, torch, params, lr, momentum, record12, compiled):
        self.torch, self.params, self.lr, self.momentum, self.record12 = torch, list(params), lr, momentum, record12
        self.bufs = [torch.zeros_like(p) for p in self.params]
        self.ns = torch.compile(newton_schulz5) if compiled else newton_schulz5

    def step(self):
        with self.torch.no_grad():
            m = self.momentum
            for p, buf in zip(self.params, self.bufs):
                g = p.grad
                scale = max(1, p.size(-2) / p.size(-1)) ** 0.5
                if self.record12:
                    buf.mul_(m).add_(g)
                    u = (self.ns(g.add(buf, alpha=m)) * scale).bfloat16()
                    p.add_(u.type_as(p), alpha=-self.lr)
                else:
                    buf.lerp_(g, 1 - m)
                    u = self.ns(g.lerp_(buf, m)).bfloat16()
                    p.add_(u.view_as(p), alpha=-self.lr * scale)


def optimizers(torch, model, rec, compiled):
    matrices = [p for n, p in model.blocks.named_parameters() if p.ndim >= 2]
    scalars = [p for p in model.parameters() if p.ndim < 2]
    embeds = [model.embed.weight, *model.value_embeds.parameters()]
    beta1, eps = rec.adam
    muon = Muon(torch, matrices, rec.muon_lr, 0.95, rec.name.startswith("12"), compiled)
    adam = lambda groups: torch.optim.Adam(groups, betas=(beta1, 0.95), eps=eps, fused=True)
    if rec.name.startswith("12"):  # three Adams, as the record builds them
        return [adam([dict(params=embeds, lr=0.6)]), adam([dict(params=[model.lm_head.weight], lr=0.008)]), muon,
                adam([dict(params=scalars, lr=0.04)])]
    return [adam([dict(params=[model.lm_head.weight], lr=0.008), dict(params=embeds, lr=0.6), dict(params=scalars, lr=0.04)]),
            muon]


def run_case(name, mode, shard, steps, warmup, tuned):
    """Times one record in one mode (the child process); returns the result dict."""
    os.environ.setdefault("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")
    import torch
    import torch._inductor.config
    if not torch.cuda.is_available():
        raise RuntimeError("no CUDA device")
    rec = RECORDS[name]
    if rec.fp8 is not None and torch.cuda.get_device_capability() < (8, 9):
        raise RuntimeError(f"{name} trains its head in FP8 (torch._scaled_mm), which needs compute capability 8.9+; "
                           f"{torch.cuda.get_device_name()} is {torch.cuda.get_device_capability()}")
    torch.empty(1, device=DEVICE, requires_grad=True).backward()  # the records' start-up workaround
    torch._inductor.config.coordinate_descent_tuning = tuned
    torch.manual_seed(0)
    compiled = mode == "compiled"
    tokens = torch.tensor(read_tokens(shard, rec.seq_len + 1), dtype=torch.int64)
    inputs, targets = tokens[:-1].to(DEVICE, torch.int32), tokens[1:].to(DEVICE)
    model, masks = build(rec, compiled)
    opts = optimizers(torch, model, rec, compiled)
    runner = torch.compile(model, dynamic=False) if compiled else model
    events = [torch.cuda.Event(enable_timing=True) for _ in range(3)]
    torch.cuda.reset_peak_memory_stats()
    totals, fwd_bwd, losses, first_step_s = [], [], [], None
    for i in range(warmup + steps):
        wall = time.time()
        events[0].record()
        loss = runner(inputs, targets, masks.build(inputs))
        loss.backward()
        events[1].record()
        for opt in opts:
            opt.step()
        model.zero_grad(set_to_none=True)
        events[2].record()
        events[2].synchronize()
        losses.append(loss.item())
        total, fb = events[0].elapsed_time(events[2]), events[0].elapsed_time(events[1])
        if i == 0:
            first_step_s = time.time() - wall
        if i >= warmup:
            totals.append(total)
            fwd_bwd.append(fb)
        print(f"  {name} {mode} step {i}{' (warm-up)' if i < warmup else ''}: {total:.1f} ms (forward+backward {fb:.1f}), "
              f"{time.time() - wall:.1f} s wall, loss {losses[-1]:.4f}", flush=True)
    ms, fb = statistics.median(totals), statistics.median(fwd_bwd)
    return {"record": name, "mode": mode, "seq_len": rec.seq_len, "ms_per_step": ms, "forward_backward_ms": fb,
            "optimizer_ms": statistics.median(t - f for t, f in zip(totals, fwd_bwd)), "ms_all": totals,
            "tokens_per_s": rec.seq_len / (ms / 1000), "first_step_s": first_step_s, "losses": losses,
            "peak_allocated_gib": torch.cuda.max_memory_allocated() / 2 ** 30,
            "peak_reserved_gib": torch.cuda.max_memory_reserved() / 2 ** 30, "coordinate_descent_tuning": tuned,
            "device": torch.cuda.get_device_name(), "torch": torch.__version__}


# ----------------------------------------------------------------------------------------------------------------------
# The parent: one child process per case, a shared deadline, the JSON rewritten after every case

def save(path, section, top):
    whole = {}
    if os.path.exists(path):
        try:
            with open(path) as f:
                whole = json.load(f)
        except (OSError, ValueError):
            whole = {}
    for k, v in top.items():
        whole.setdefault(k, v)
    whole["record_steps"] = section
    with open(path + ".tmp", "w") as f:
        json.dump(whole, f, indent=2)
    os.replace(path + ".tmp", path)


RUNNING = []  # the child now running, for the SIGTERM handler


def stop(signum, _frame):
    """On SIGTERM (check.sh's timeout), takes the running case's process group down too, then exits."""
    for child in RUNNING:
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    sys.exit(128 + signum)


def run_child(args, name, mode, limit):
    """Runs one case in its own process group (compile workers die with it); returns (result, error)."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        result_path = f.name
    cmd = [sys.executable, os.path.abspath(__file__), "--child", name, mode, "--result", result_path, "--shard", args.shard,
           "--steps", str(args.steps), "--warmup", str(args.warmup)] + (["--tuned"] if args.tuned else [])
    child = subprocess.Popen(cmd, start_new_session=True)
    RUNNING[:] = [child]
    try:
        code = child.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        return None, f"{name} {mode}: over its {limit:.0f} s limit (compilation included); killed"
    finally:
        try:
            os.killpg(child.pid, signal.SIGKILL)  # leftovers such as inductor's compile workers
        except ProcessLookupError:
            pass
    try:
        with open(result_path) as f:
            out = json.load(f)
    except (OSError, ValueError):
        out = {"error": f"exited with status {code} without a result"}
    finally:
        os.unlink(result_path)
    return (None, f"{name} {mode}: {out['error']}") if "error" in out else (out, None)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shard", required=True)
    ap.add_argument("--json", help="file whose key \"record_steps\" gets the results")
    ap.add_argument("--records", default=",".join(RECORDS))
    ap.add_argument("--modes", default="eager,compiled", help="run in this order: every record eager, then every record compiled")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--tuned", action="store_true", help="inductor's coordinate-descent tuning, as the records (slow to compile)")
    ap.add_argument("--case-budget", type=float, default=240, help="seconds one (record, mode) may take, compile included")
    ap.add_argument("--deadline", type=float, default=540, help="seconds for everything; cases left with < 20 s are skipped")
    ap.add_argument("--child", nargs=2, metavar=("RECORD", "MODE"), help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        try:
            out = run_case(*args.child, args.shard, args.steps, args.warmup, args.tuned)
        except Exception as e:  # the parent reports it; the traceback goes to the log
            import traceback
            traceback.print_exc()
            out = {"error": f"{type(e).__name__}: {e}"}
        with open(args.result, "w") as f:
            json.dump(out, f)
        return

    if not args.json:
        ap.error("--json is required")
    unknown = [r for r in args.records.split(",") if r not in RECORDS]
    if unknown:
        ap.error(f"unknown records {unknown}; known: {', '.join(RECORDS)}")
    signal.signal(signal.SIGTERM, stop)
    start = time.time()
    section = {"runs": [], "errors": [], "protocol": f"{args.warmup} warm-up steps, median of {args.steps} CUDA-event "
               "timed steps (masks + forward + backward + optimizers + zero_grad); one process per case"}
    top = {}
    for mode in args.modes.split(","):
        for name in args.records.split(","):
            left = args.deadline - (time.time() - start)
            if left < 20:
                section["errors"].append(f"{name} {mode}: skipped, {left:.0f} s left of the {args.deadline:.0f} s deadline")
            else:
                print(f"== {name} {mode} (limit {min(args.case_budget, left):.0f} s)", flush=True)
                t0 = time.time()
                out, error = run_child(args, name, mode, min(args.case_budget, left))
                if out is not None:
                    out["wall_s"] = time.time() - t0
                    section["runs"].append(out)
                    top = top or {"device": out["device"], "torch": out["torch"]}
                    print(f"pytorch {name} {mode}: {out['ms_per_step']:.1f} ms/step (forward+backward "
                          f"{out['forward_backward_ms']:.1f}, optimizers {out['optimizer_ms']:.1f}), "
                          f"peak {out['peak_allocated_gib']:.1f} GiB, first step {out['first_step_s']:.0f} s", flush=True)
                else:
                    section["errors"].append(error)
                    print(f"record_steps: ERROR {error}", file=sys.stderr, flush=True)
            save(args.json, section, top)


if __name__ == "__main__":
    main()
