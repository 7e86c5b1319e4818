"""Puts our GEMM timings (report.json) beside torch's (torch.json) as a markdown table with ratios."""
import json, os, sys

out = sys.argv[1]
ours = json.load(open(os.path.join(out, "report.json"))) if os.path.exists(os.path.join(out, "report.json")) else {}
torch = json.load(open(os.path.join(out, "torch.json"))) if os.path.exists(os.path.join(out, "torch.json")) else {}
ref = {(g["shape"], g["dtype"]): g["tflops"] for g in torch.get("gemms", [])}
print(f"# GPU check summary\n\ndevice (torch): {torch.get('device', '?')}, torch {torch.get('torch', '?')}\n")
print("| shape | dtype | ours TFLOP/s | torch TFLOP/s | ours / torch |\n|---|---|---|---|---|")
for g in ours.get("gemms", []):
    t = ref.get((g["shape"], g["dtype"]))
    ratio = f"{g['tflops'] / t:.0%}" if t else "-"
    print(f"| {g['shape']} | {g['dtype']} | {g['tflops']:.1f} | {t if t is None else round(t, 1)} | {ratio} |")
train = json.load(open(os.path.join(out, "torch_train.json"))) if os.path.exists(os.path.join(out, "torch_train.json")) else {}
rec = ours.get("record")
if rec:
    print(f"\n## Record 1 training step (GPT-2 124M, T={rec['sequence_length']}, micro-batch {rec['micro_batch']})\n")
    print("| implementation | ms/step | tokens/s | vs ours |\n|---|---|---|---|")
    print(f"| speedrun (ILGPU + cuBLAS) | {rec['ms_per_step']:.1f} | {rec['tokens_per_second']:,.0f} | 1.00 |")
    for r in train.get("runs", []):
        print(f"| PyTorch {r['mode']} (batch {r['batch']}) | {r['ms_per_step']:.1f} | {r['tokens_per_s']:,.0f} | "
              f"{r['tokens_per_s'] / rec['tokens_per_second']:.2f}x |")
    if rec.get("mfu") is not None:
        print(f"\nour MFU (llm.c's 6N + 6LCT count, 989 TFLOP/s peak): {rec['mfu']:.1%}")
kern = ours.get("kernels", [])
print(f"\nkernels agreeing with the CPU: {sum(k['pass'] for k in kern)} of {len(kern)}")
for e in ours.get("errors", []):
    print(f"- error: {e}")
