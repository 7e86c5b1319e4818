"""Puts our timings (report.json: GEMMs, attention, record steps) beside torch's (torch.json, torch_train.json) as
markdown tables with ratios; works on the default mode's folder and on the records mode's (check.sh OUT records)."""
import json, os, sys

out = sys.argv[1]
ours = json.load(open(os.path.join(out, "report.json"))) if os.path.exists(os.path.join(out, "report.json")) else {}
torch = json.load(open(os.path.join(out, "torch.json"))) if os.path.exists(os.path.join(out, "torch.json")) else {}
ref = {(g["shape"], g["dtype"]): g["tflops"] for g in torch.get("gemms", [])}
print(f"# GPU check summary\n\ndevice (torch): {torch.get('device', '?')}, torch {torch.get('torch', '?')}\n")
if ours.get("gemms"):
    print("| shape | dtype | ours TFLOP/s | torch TFLOP/s | ours / torch |\n|---|---|---|---|---|")
for g in ours.get("gemms", []):
    t = ref.get((g["shape"], g["dtype"]))
    ratio = f"{g['tflops'] / t:.0%}" if t else "-"
    print(f"| {g['shape']} | {g['dtype']} | {g['tflops']:.1f} | {t if t is None else round(t, 1)} | {ratio} |")
train = json.load(open(os.path.join(out, "torch_train.json"))) if os.path.exists(os.path.join(out, "torch_train.json")) else {}
steps = ours.get("records") or ([ours["record"]] if ours.get("record") else [])  # "record": reports before the list
rec = next((r for r in steps if r["record"].startswith("01")), None)
if rec:
    print(f"\n## Record 1 training step (GPT-2 124M, T={rec['sequence_length']}, micro-batch {rec['micro_batch']})\n")
    print("| implementation | ms/step | tokens/s | vs ours |\n|---|---|---|---|")
    print(f"| speedrun (ILGPU + cuBLAS) | {rec['ms_per_step']:.1f} | {rec['tokens_per_second']:,.0f} | 1.00 |")
    for r in train.get("runs", []):
        print(f"| PyTorch {r['mode']} (batch {r['batch']}) | {r['ms_per_step']:.1f} | {r['tokens_per_s']:,.0f} | "
              f"{r['tokens_per_s'] / rec['tokens_per_second']:.2f}x |")
    compiled = next((r for r in train.get("runs", []) if r["mode"] == "compiled"), None)
    if compiled:
        print(f"\nours at {rec['tokens_per_second'] / compiled['tokens_per_s']:.2f}x torch.compile's speed on a full-size "
              f"record 1 step (ours micro-batch {rec['micro_batch']}, torch's {compiled['batch']})")
    if rec.get("mfu") is not None:
        print(f"\nour MFU (llm.c's 6N + 6LCT count, 989 TFLOP/s peak): {rec['mfu']:.1%}")
att = ours.get("attention", [])
torch_att = torch.get("attention", {})
ref_att = {c["name"]: c for c in torch_att.get("cases", [])}
if att or ref_att:
    print("\n## attention fwd+bwd: ours vs torch flash SDPA / FlexAttention\n")
    print("speed = torch ms / ours ms (target: >= 0.7x torch's speed); ours: fp32 tensors (bf16 MMA on CUDA), torch: bf16 tensors; density = fraction of "
          "128x128 block pairs computed (ours / torch's BlockMask)\n")
    print("| case | documents | density ours / torch | ours ms | torch ms | torch backend | speed | >= 0.7x |\n"
          "|---|---|---|---|---|---|---|---|")
    num = lambda x, f="{:.3f}": "-" if x is None else f.format(x)
    for a in att:
        t = ref_att.get(a["name"], {})
        docs = num(a.get("documents"), "{}")
        if t and t.get("documents") != a.get("documents"):
            docs += f" (torch {num(t.get('documents'), '{}')}: different streams)"
        speed = t["ms"] / a["ms"] if t.get("ms") and a.get("ms") else None
        verdict = "-" if speed is None else ("yes" if speed >= 0.7 else "**no**")
        print(f"| {a['name']} | {docs} | {num(a.get('density'), '{:.4f}')} / {num(t.get('density'), '{:.4f}')} | "
              f"{num(a.get('ms')) if a.get('ms') is not None else '**failed**'} | {num(t.get('ms'))} | "
              f"{t.get('backend', '-')} | {num(speed, '{:.2f}x')} | {verdict} |")
    for name, t in ref_att.items():
        if all(a["name"] != name for a in att):
            print(f"| {name} | {num(t.get('documents'), '{}')} | - / {num(t.get('density'), '{:.4f}')} | - | "
                  f"{num(t.get('ms'))} | {t.get('backend', '-')} | - | - |")
    builds = [(a, ref_att.get(a["name"], {})) for a in att if a.get("mask_build_ms") is not None]
    if builds:
        print()
    for a, t in builds:
        print(f"- mask build, {a['name']}: ours {a['mask_build_ms']:.3f} ms from elements, "
              f"{num(a.get('blocks_build_ms'))} ms per block; torch create_block_mask {num(t.get('mask_build_ms'))} ms")
    for e in torch_att.get("errors", []):
        print(f"- torch attention error: {e}")
streams = [r for r in steps if not r["record"].startswith("01")]
torch_steps = torch.get("record_steps", {})
failed = ours.get("record_failures", [])
if streams or failed or torch_steps:
    print("\n## Record steps at full size: ours vs the PyTorch originals' step\n")
    print("One stream (B = 1) forward + backward + every optimizer, what one of the original's 8 GPUs does a step; medians, "
          "CUDA events. speed = torch ms / ours ms (above 1: ours faster). Both read the same tokens (the same documents and "
          "block masks). full step: the track's 8 micro-batches on one GPU + the optimizers (ours, estimated from the parts).\n")
    print("| record | T | ours ms (fwd+bwd / opt) | torch eager ms | torch compiled ms | speed vs eager | speed vs compiled | "
          "ours full step ms | memory GiB: ours pool / device, torch peak |\n|---|---|---|---|---|---|---|---|---|")
    runs = {(r["record"], r["mode"]): r for r in torch_steps.get("runs", [])}
    names = [r["record"] for r in streams] + [f["record"] for f in failed if not f["record"].startswith("01")]
    names += sorted({n for n, _ in runs} - set(names))
    for name in names:
        r = next((x for x in streams if x["record"] == name), None)
        f = next((x for x in failed if x["record"] == name), None)
        eager, compiled = runs.get((name, "eager")), runs.get((name, "compiled"))
        ms = lambda x: "-" if x is None else f"{x['ms_per_step']:.1f}"
        speed = lambda x: "-" if x is None or r is None else f"{x['ms_per_step'] / r['ms_per_step']:.2f}x"
        peak = max((x["peak_allocated_gib"] for x in (eager, compiled) if x), default=None)
        if r is not None:
            device_gib = r.get("device_used_gib")
            mine = f"{r['ms_per_step']:.1f} ({r['forward_backward_ms']:.1f} / {r['optimizer_ms']:.1f})"
            full = f"{r['full_step_ms']:.0f} ({r['accumulation']}x)"
            memory = f"{r['pool_gib']:.1f} / {'-' if device_gib is None else f'{device_gib:.1f}'}"
            t = r["sequence_length"]
            other = {x["seq_len"] for x in (eager, compiled) if x} - {t}
            if other:
                t = f"{t} (**torch {', '.join(map(str, sorted(other)))}**: not comparable)"
        else:
            mine, full, memory = "**failed**" if f else "-", "-", "- / -"
            t = (eager or compiled or {}).get("seq_len", "-")
        memory += f", {'-' if peak is None else f'{peak:.1f}'}"
        print(f"| {name} | {t} | {mine} | {ms(eager)} | {ms(compiled)} | {speed(eager)} | {speed(compiled)} | {full} | {memory} |")
    if failed or torch_steps.get("errors") or torch_steps.get("runs"):
        print()
    for f in failed:
        print(f"- ours failed, {f['record']}: {f['error']}")
    for e in torch_steps.get("errors", []):
        print(f"- torch: {e}")
    compiles = [x for x in torch_steps.get("runs", []) if x["mode"] == "compiled"]
    if compiles:
        print("- torch.compile's first step (compilation): " +
              ", ".join(f"{x['record']} {x['first_step_s']:.0f} s" for x in compiles) +
              ("" if any(x.get("coordinate_descent_tuning") for x in compiles) else " (without coordinate-descent tuning)"))
kern = ours.get("kernels", [])
if kern:
    print(f"\nkernels agreeing with the CPU: {sum(k['pass'] for k in kern)} of {len(kern)}")
for e in ours.get("errors", []):
    print(f"- error: {e}")
