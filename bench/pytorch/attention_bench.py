"""Forward + backward time of PyTorch's attention on the cases `speedrun doctor` times with our kernels
(src/Speedrun.Cli/Doctor/AttentionTiming.cs), as the card's reference.

Cases (bf16 inputs, q, k, v and dy of shape (B, H, T, D), contiguous, leaves that accumulate their gradient):
  * F.scaled_dot_product_attention(is_causal=True) with the flash backend, T = 1024, B = 64: 65,536 tokens,
    the per-GPU micro-step of records 3-11 (8 GPUs x 64 sequences x 1024), in both head layouts the records
    use: H = 12, D = 64 (records 1-4) and H = 6, D = 128 (records 5 on).
  * flex_attention (compiled) on one 65,536-token stream (B = 1), H = 6, D = 128, as records 12 on feed each
    GPU, under causal AND same-document AND sliding-window masks (q - k < window) for windows of 1024 and
    1792 tokens; the block mask (128-position blocks) comes from create_block_mask. Document ids are the
    running count of end-of-text tokens (50256) over the first 65,536 tokens of --shard, the token included:
    docs = cumsum(tokens == 50256), as the records compute them.

Protocol (the doctor's too): 3 warm-up calls, then 10 calls each between two CUDA events; the median is
reported. The block-mask build (create_block_mask) is timed separately, median of 5.

Results go under the key "attention" of --json: other keys of an existing file are kept, so the GPU check
can fold these results into torch.json. The file is rewritten after every case, so a run that is killed
still leaves what it measured. A missing CUDA device or flex_attention is reported in the file and on
stderr, and the script exits with status 2 instead of waiting; each FlexAttention case also has a time
budget (--flex-budget seconds, compilation included) after which it is abandoned with an error.
"""
import argparse, json, os, signal, statistics, sys, time

EOT = 50256
STREAM = 65536
BLOCK = 128
WARMUP, TIMED = 3, 10


def read_tokens(path, count):
    """The first `count` tokens of a speedrun shard (256 int32 header, then uint16 tokens), repeated if short."""
    import array, struct
    with open(path, "rb") as f:
        head = f.read(1024)
        magic, version, n = struct.unpack("<3i", head[:12]) if len(head) == 1024 else (0, 0, 0)
        if magic != 20240520 or version != 1:
            raise SystemExit(f"attention_bench: {path} is not a speedrun shard (magic 20240520, version 1)")
        tokens = array.array("H")
        tokens.frombytes(f.read(2 * min(n, count)))
    if sys.byteorder != "little":
        tokens.byteswap()
    if len(tokens) == 0:
        raise SystemExit(f"attention_bench: {path} holds no tokens")
    return [tokens[i % len(tokens)] for i in range(count)]  # a short shard is repeated, as the doctor does


class Results:
    """The "attention" section of the JSON file, rewritten after every change."""

    def __init__(self, path):
        self.path = path
        self.data = {"cases": [], "errors": [], "protocol": f"{WARMUP} warm-up calls, median of {TIMED} "
                     "CUDA-event timed forward+backward calls"}

    def add(self, case=None, error=None):
        if case is not None:
            self.data["cases"].append(case)
        if error is not None:
            self.data["errors"].append(error)
            print(f"attention_bench: ERROR {error}", file=sys.stderr, flush=True)
        self.save()

    def save(self):
        whole = {}
        if os.path.exists(self.path):
            try:
                with open(self.path) as f:
                    whole = json.load(f)
            except (OSError, ValueError):
                whole = {}
        whole["attention"] = self.data
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(whole, f, indent=2)
        os.replace(tmp, self.path)


def median_ms(torch, fn, warmup=WARMUP, timed=TIMED):
    for _ in range(warmup):
        fn()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(timed):
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return statistics.median(times), times


def leaves(torch, b, h, t, d, seed):
    g = torch.Generator(device="cuda").manual_seed(seed)
    make = lambda: torch.randn((b, h, t, d), device="cuda", dtype=torch.bfloat16, generator=g)
    q, k, v = (make().requires_grad_(True) for _ in range(3))
    return q, k, v, make()


class Budget:
    """Raises TimeoutError in the main thread once `seconds` have passed (SIGALRM)."""

    def __init__(self, seconds, what):
        self.seconds, self.what = seconds, what

    def _fire(self, *_):
        raise TimeoutError(f"{self.what}: over its budget of {self.seconds} s")

    def __enter__(self):
        signal.signal(signal.SIGALRM, self._fire)
        signal.alarm(self.seconds)

    def __exit__(self, *_):
        signal.alarm(0)


def sdpa_cases(torch, results, batch):
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel
    for h, d in [(12, 64), (6, 128)]:
        t = 1024
        name = f"sdpa causal B{batch} H{h} T{t} D{d}"
        try:
            q, k, v, dy = leaves(torch, batch, h, t, d, seed=h)

            def step():
                with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                    y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
                y.backward(dy)

            ms, all_ms = median_ms(torch, step)
            n = t // BLOCK
            results.add({"name": name, "mask": "causal", "backend": "flash (sdpa_kernel FLASH_ATTENTION)",
                         "batch": batch, "heads": h, "seq_len": t, "head_dim": d, "window": None, "documents": None,
                         "block_size": BLOCK, "density": (n * (n + 1) // 2) / (n * n), "dtype": "bf16",
                         "ms": ms, "ms_all": all_ms})
            print(f"torch {name}: {ms:.3f} ms fwd+bwd", flush=True)
            del q, k, v, dy
        except Exception as e:  # one case failing must not hide the others
            results.add(error=f"{name}: {type(e).__name__}: {e}")
        torch.cuda.empty_cache()


def document_window_mask(docs, window):
    """Causal, same document, and at most `window` - 1 positions back (the doctor's DocumentWindowMask)."""
    def mask_mod(b, h, q_idx, kv_idx):
        return (q_idx >= kv_idx) & (docs[q_idx] == docs[kv_idx]) & (q_idx - kv_idx < window)
    return mask_mod


def flex_cases(torch, results, tokens, budget):
    try:
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention
    except Exception as e:
        results.add(error=f"FlexAttention unavailable in torch {torch.__version__}: {type(e).__name__}: {e}")
        return False
    docs = torch.cumsum((torch.tensor(tokens, dtype=torch.int64) == EOT).to(torch.int32), 0).to(torch.int32).cuda()
    documents = int(docs[-1].item() - docs[0].item()) + 1
    flex = torch.compile(flex_attention, dynamic=False)
    ok = True
    for window in (1024, 1792):
        h, d, t = 6, 128, STREAM
        name = f"flex causal+document+window{window} B1 H{h} T{t} D{d}"

        mask_mod = document_window_mask(docs, window)
        try:
            with Budget(budget, name):
                def build():
                    try:  # compiled, as the records build theirs; a torch without the flag builds it plainly
                        return create_block_mask(mask_mod, None, None, t, t, device="cuda", BLOCK_SIZE=BLOCK, _compile=True)
                    except TypeError:
                        return create_block_mask(mask_mod, None, None, t, t, device="cuda", BLOCK_SIZE=BLOCK)
                block_mask = build()
                build_ms, _ = median_ms(torch, build, warmup=1, timed=5)
                n = -(-t // BLOCK)
                computed = int(block_mask.kv_num_blocks.sum().item())
                if block_mask.full_kv_num_blocks is not None:
                    computed += int(block_mask.full_kv_num_blocks.sum().item())
                q, k, v, dy = leaves(torch, 1, h, t, d, seed=window)

                def step():
                    y = flex(q, k, v, block_mask=block_mask)
                    y.backward(dy)

                ms, all_ms = median_ms(torch, step)
            results.add({"name": name, "mask": "causal+document+window", "backend": "flex_attention (torch.compile)",
                         "batch": 1, "heads": h, "seq_len": t, "head_dim": d, "window": window,
                         "documents": documents, "block_size": BLOCK, "density": computed / (n * n),
                         "dtype": "bf16", "mask_build_ms": build_ms, "ms": ms, "ms_all": all_ms})
            print(f"torch {name}: {ms:.3f} ms fwd+bwd, block density {computed / (n * n):.4f}, "
                  f"create_block_mask {build_ms:.3f} ms", flush=True)
            del q, k, v, dy, block_mask
        except Exception as e:
            results.add(error=f"{name}: {type(e).__name__}: {e}")
            ok = False
        torch.cuda.empty_cache()
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shard", required=True, help="speedrun .bin shard: the first 65,536 tokens give the documents")
    ap.add_argument("--json", required=True, help="file whose key 'attention' receives the results")
    ap.add_argument("--batch", type=int, default=64, help="sequences of 1024 for the SDPA cases (default 64)")
    ap.add_argument("--flex-budget", type=int, default=120, help="seconds per FlexAttention case, compile included")
    ap.add_argument("--skip-flex", action="store_true")
    args = ap.parse_args()
    results = Results(args.json)
    tokens = read_tokens(args.shard, STREAM)
    try:
        import torch
    except Exception as e:
        results.add(error=f"torch unavailable: {type(e).__name__}: {e}")
        sys.exit(2)
    if not torch.cuda.is_available():
        results.add(error="torch sees no CUDA device")
        sys.exit(2)
    results.data.update({"device": torch.cuda.get_device_name(), "torch": torch.__version__, "cuda": torch.version.cuda,
                         "shard": args.shard})
    results.save()
    torch.manual_seed(0)
    sdpa_cases(torch, results, args.batch)
    flex_ok = True if args.skip_flex else flex_cases(torch, results, tokens, args.flex_budget)
    sys.exit(0 if flex_ok and not results.data["errors"] else 2)


if __name__ == "__main__":
    main()
