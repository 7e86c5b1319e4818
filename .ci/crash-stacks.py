#!/usr/bin/env python3
"""Prints the crashed thread of each .NET crash report in a folder (written when DOTNET_EnableCrashReport=1).

Test hosts only: reports from training programs that a harness test makes fail on purpose are skipped."""
import json, pathlib, sys

folder = pathlib.Path(sys.argv[1])
for report in sorted(folder.glob("*.crashreport.json")):
    try:
        payload = json.loads(report.read_text())["payload"]
    except (OSError, ValueError, KeyError) as e:
        print(f"{report}: unreadable crash report ({e})")
        continue
    process = payload.get("process_name", "?")
    if process == "speedrun.dll":
        continue
    print(f"== crash report {report.name}: process {process}")
    for thread in payload.get("threads", []):
        if str(thread.get("crashed")).lower() != "true":
            continue
        print(f"   crashed thread {thread.get('native_thread_id')}, exception {thread.get('managed_exception_type') or '(native)'}")
        for frame in thread.get("stack_frames", [])[:40]:
            module = frame.get("filename") or frame.get("native_module") or "?"
            method = frame.get("method_name") or frame.get("unmanaged_name") or ""
            print(f"     {module} {method} {frame.get('native_address', '')}")
