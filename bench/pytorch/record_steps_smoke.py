"""A CPU check of record_steps.py for machines without a GPU or a recent torch: Debian's torch 1.13
(`apt-get install python3-torch`) with stand-ins for the 2.x APIs the script uses. Not a benchmark, and not run by CI.

    /usr/bin/python3 bench/pytorch/record_steps_smoke.py SHARD [--cases 12-flex-attention:eager,...]

Stand-ins: FlexAttention is dense attention under the mask the BlockMask's block lists describe (full blocks wholly
visible, partial ones through mask_mod), create_block_mask classifies blocks from the element mask, fp8 is bf16 and
_scaled_mm a float product that insists on the layouts cuBLASLt needs (row-major first operand, column-major second),
torch.compile returns what it is given, and CUDA is the CPU. Sizes: blocks of 16 on a 2,048-token stream, width 256
(2 heads of 128), the shard's tokens folded into 1,001 ids (end-of-text kept apart). Checks: every case steps with a
falling loss; every block mask a layer gets equals its record's element predicate (causal, same document, and the
1,024-token window of 12, the 14 blocks of 19, 21's 14 and 7 blocks in LSSSLS|SLSSSL without layer 7); the FP8 head's
gradients match the plain head's. About a minute a step on two cores.
"""
import argparse, dataclasses, math, os, sys, time, types
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import record_steps as rs

# ---- stand-ins for torch 2.x
F.rms_norm = lambda x, shape: x * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + torch.finfo(x.dtype).eps).to(x.dtype)
nn.Buffer = lambda t, persistent=True: t
torch.compile = lambda fn=None, **kw: fn
torch.float8_e4m3fn = torch.float8_e5m2 = torch.bfloat16
_adam = torch.optim.Adam
torch.optim.Adam = lambda groups, fused=False, **kw: _adam(groups, **kw)
inductor = types.ModuleType("torch._inductor")
inductor.config = types.ModuleType("torch._inductor.config")
sys.modules.update({"torch._inductor": inductor, "torch._inductor.config": inductor.config})
torch._inductor = inductor
scaled_mm_calls, attention_masks = [], []


def scaled_mm(a, b, out_dtype=None, scale_a=None, scale_b=None, use_fast_accum=False):
    assert a.is_contiguous() and b.t().is_contiguous(), "_scaled_mm takes a row-major and a column-major operand"
    assert scale_a.dtype == scale_b.dtype == torch.float32 and scale_a.dim() == scale_b.dim() == 0
    scaled_mm_calls.append((tuple(a.shape), tuple(b.shape)))
    return (a.float() @ b.float() * scale_a * scale_b).to(out_dtype)


torch._scaled_mm = scaled_mm


class Event:
    def __init__(self, **_):
        self.t = 0.0

    def record(self):
        self.t = time.perf_counter()

    def synchronize(self):
        pass

    def elapsed_time(self, later):
        return (later.t - self.t) * 1000


for name, value in dict(Event=Event, is_available=lambda: True, get_device_capability=lambda: (9, 0),
                        get_device_name=lambda: "cpu stand-in", reset_peak_memory_stats=lambda: None,
                        max_memory_allocated=lambda: 0, max_memory_reserved=lambda: 0).items():
    setattr(torch.cuda, name, value)


class BlockMask:
    def __init__(self, kinds, mask_mod, block):  # kinds: (Q blocks, KV blocks), 0 empty, 1 partial, 2 full
        self.kinds, self.mask_mod, self.block = kinds, mask_mod, block

    @staticmethod
    def from_kv_blocks(kv_num, kv_idx, full_num, full_idx, BLOCK_SIZE=128, mask_mod=None):
        kinds = torch.zeros(kv_num.shape[-1], kv_idx.shape[-1], dtype=torch.int64)
        for q in range(kv_num.shape[-1]):
            kinds[q, kv_idx[0, 0, q, :int(kv_num[0, 0, q])].long()] = 1
            full = full_idx[0, 0, q, :int(full_num[0, 0, q])].long()
            assert (kinds[q, full] == 0).all(), "a block pair both partial and full"
            kinds[q, full] = 2
        return BlockMask(kinds, mask_mod, BLOCK_SIZE)

    def dense(self, t):
        kind = self.kinds.repeat_interleave(self.block, 0).repeat_interleave(self.block, 1)[:t, :t]
        return (kind == 2) | ((kind == 1) & self.mask_mod(0, 0, torch.arange(t)[:, None], torch.arange(t)[None, :]))


def create_block_mask(mask_mod, B, H, q_len, kv_len, device=None, BLOCK_SIZE=128):
    n = q_len // BLOCK_SIZE
    m = mask_mod(0, 0, torch.arange(q_len)[:, None], torch.arange(kv_len)[None, :])
    blocks = m.view(n, BLOCK_SIZE, n, BLOCK_SIZE).permute(0, 2, 1, 3).flatten(2)
    return BlockMask(torch.where(blocks.all(-1), 2, torch.where(blocks.any(-1), 1, 0)), mask_mod, BLOCK_SIZE)


def flex_attention(q, k, v, block_mask=None, scale=None):
    m = block_mask.dense(q.size(-2))
    attention_masks.append(m)
    s = (q.float() @ k.float().transpose(-1, -2)) * (q.size(-1) ** -0.5 if scale is None else scale)
    return (torch.softmax(s.masked_fill(~m, float("-inf")), -1) @ v.float()).to(q.dtype)


flex = types.ModuleType("torch.nn.attention.flex_attention")
flex.BlockMask, flex.create_block_mask, flex.flex_attention = BlockMask, create_block_mask, flex_attention
sys.modules.update({"torch.nn.attention": types.ModuleType("torch.nn.attention"), "torch.nn.attention.flex_attention": flex})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("shard")
    ap.add_argument("--cases", default=",".join(f"{r}:{m}" for m in ("eager", "compiled") for r in rs.RECORDS))
    args = ap.parse_args()
    t, block = 2048, 16
    rs.DEVICE, rs.BLOCK, rs.DIM, rs.HEADS, rs.HEAD_ROWS, rs.EOT = "cpu", block, 256, 2, 1024, 1000
    for name, rec in list(rs.RECORDS.items()):
        rs.RECORDS[name] = dataclasses.replace(rec, seq_len=t, embed_rows=1024 if name.startswith("12") else 1001,
                                               rotary_positions=4 * t if name.startswith("21") else t)
    read = rs.read_tokens
    rs.read_tokens = lambda path, count: [1000 if x == 50256 else x % 1000 for x in read(path, count)]
    tokens = torch.tensor(rs.read_tokens(args.shard, t + 1))
    docs = (tokens[:-1] == rs.EOT).cumsum(0)
    q, k = torch.arange(t)[:, None], torch.arange(t)[None, :]
    causal_doc = (q >= k) & (docs[q] == docs[k])
    within = lambda w: causal_doc & (q // block - k // block < w)
    print(f"{int(docs[-1]) + 1} documents in the {t}-token stream")

    for case in args.cases.split(","):
        name, mode = case.split(":")
        attention_masks.clear()
        scaled_mm_calls.clear()
        out = rs.run_case(name, mode, args.shard, steps=1, warmup=1, tuned=False)
        assert all(math.isfinite(x) for x in out["losses"]) and out["losses"][-1] < out["losses"][0], out["losses"]
        expected = {"12": [causal_doc & (q - k < 1024)], "19": [within(rs.WINDOW_BLOCKS)],
                    "21": [within(rs.WINDOW_BLOCKS), within(rs.WINDOW_BLOCKS // 2)]}[name[:2]]
        assert all(any(torch.equal(m, e) for e in expected) for m in attention_masks), f"{case}: a mask differs"
        if name.startswith("21"):
            pattern = "".join("L" if torch.equal(m, expected[0]) else "S" for m in attention_masks[:11])
            assert pattern == "LSSSLSSSSSL", pattern  # LSSSLS|SLSSSL, layer 7 without attention
        assert bool(scaled_mm_calls) == (rs.RECORDS[name].fp8 is not None)
        print(f"{case}: ok, losses {[round(x, 3) for x in out['losses']]}, {len(attention_masks)} attention calls, "
              f"{len(scaled_mm_calls)} _scaled_mm calls, mask density {attention_masks[0].float().mean():.4f}", flush=True)

    # The FP8 head's backward against autograd of the plain head (fp8 is bf16 here: the maths and layouts only).
    model, masks = rs.build(rs.RECORDS["19-fp8-lm-head"], compiled=False)
    with torch.no_grad():
        model.lm_head.weight.normal_(0, 0.02)
    inputs, grads = tokens[:-1].to(torch.int32), []
    for training in (True, False):
        model.train(training)
        model.zero_grad(set_to_none=True)
        model(inputs, tokens[1:], masks.build(inputs)).backward()
        grads.append([model.lm_head.weight.grad.float(), model.embed.weight.grad.float()])
    for what, fp8, plain in zip(("head", "embedding"), *grads):
        rel = float((fp8 - plain).norm() / plain.norm())
        print(f"FP8 head vs plain head: {what} gradient relative difference {rel:.4f}")
        assert rel < 0.05, what
    print("record_steps_smoke: all checks passed")


if __name__ == "__main__":
    main()
