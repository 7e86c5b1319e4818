#!/usr/bin/env bash
# Builds a self-contained single-file `speedrun` for linux-x64 into .device/bin (ignored by git), small
# enough to carry to a GPU machine that has no .NET. TorchSharp is not referenced by the CLI, so none of
# libtorch travels. IncludeAllContentForSelfExtract: Roslyn needs real files for its references.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=.device/bin
rm -rf "$out"
dotnet publish src/Speedrun.Cli -c Release -r linux-x64 --self-contained \
  -p:PublishSingleFile=true -p:EnableCompressionInSingleFile=true -p:IncludeAllContentForSelfExtract=true \
  -p:DebugType=none -p:SpeedrunDeviceKit=true -o "$out" >/dev/null
size=$(stat -c %s "$out/speedrun")
echo "published $out/speedrun: $((size / 1024 / 1024)) MiB"
if [ "$size" -gt $((50 * 1024 * 1024)) ]; then
  echo "error: the single-file publish is over 50 MiB; something heavy (TorchSharp?) got referenced" >&2
  exit 1
fi
