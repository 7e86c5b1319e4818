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
kern = ours.get("kernels", [])
print(f"\nkernels agreeing with the CPU: {sum(k['pass'] for k in kern)} of {len(kern)}")
for e in ours.get("errors", []):
    print(f"- error: {e}")
