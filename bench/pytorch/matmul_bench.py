"""torch.matmul TFLOP/s on the same shapes `speedrun doctor` times, as the card's cuBLAS reference.

Random data, CUDA-event timing, two warm-up calls, median of 5 batches -- the same protocol as
src/Speedrun.Cli/Doctor/GemmThroughput.cs, so the two tables compare like for like.
"""
import argparse, json, statistics
import torch

SHAPES = [  # name, M, K, N, batch: C[M,N] = A[M,K] @ B[N,K]^T, as the doctor does
    ("4096x4096x4096", 4096, 4096, 4096, 1),
    ("qkv 8192x768x2304", 8192, 768, 2304, 1),
    ("fc 8192x768x3072", 8192, 768, 3072, 1),
    ("proj 8192x3072x768", 8192, 3072, 768, 1),
    ("lm_head 8192x768x50304", 8192, 768, 50304, 1),
    ("attn scores 96x(1024x64x1024)", 1024, 64, 1024, 96),
]


def time_ms(fn, flops):
    fn(); fn()
    reps = 5 if flops > 5e11 else 20
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    batches = []
    for _ in range(5):
        start.record()
        for _ in range(reps):
            fn()
        stop.record()
        stop.synchronize()
        batches.append(start.elapsed_time(stop) / reps)
    return statistics.median(batches)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", required=True)
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 stays fp32, as in our binding
    results = []
    for name, m, k, n, batch in SHAPES:
        dtypes = ["fp32", "bf16"] if name.startswith("4096") else ["bf16", "fp32"]
        for dt in dtypes:
            torch_dt = torch.float32 if dt == "fp32" else torch.bfloat16
            shape_a = (batch, m, k) if batch > 1 else (m, k)
            shape_b = (batch, n, k) if batch > 1 else (n, k)
            a = (torch.rand(shape_a, device="cuda") * 2 - 1).to(torch_dt)
            b = (torch.rand(shape_b, device="cuda") * 2 - 1).to(torch_dt)
            flops = 2.0 * m * n * k * batch
            ms = time_ms(lambda: torch.matmul(a, b.transpose(-1, -2)), flops)
            results.append({"shape": name, "dtype": dt, "ms": ms, "tflops": flops / (ms / 1e3) / 1e12})
            print(f"torch {name} {dt}: {ms:.3f} ms, {results[-1]['tflops']:.1f} TFLOP/s", flush=True)
            del a, b
            torch.cuda.empty_cache()
    info = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "cuda": torch.version.cuda,
            "gemms": results}
    with open(args.json, "w") as f:
        json.dump(info, f, indent=2)


if __name__ == "__main__":
    main()
