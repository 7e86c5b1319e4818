#!/usr/bin/env bash
# Builds a self-contained single-file `speedrun` for linux-x64 into .device/bin (ignored by git), small
# enough to carry to a GPU machine that has no .NET. TorchSharp is not referenced by the CLI, so none of
# libtorch travels. IncludeAllContentForSelfExtract: Roslyn needs real files for its references.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=.device/bin
rm -rf "$out"
dotnet build src/Speedrun.Cli -c Release >/dev/null
dotnet publish src/Speedrun.Cli -c Release -r linux-x64 --self-contained \
  -p:PublishSingleFile=true -p:EnableCompressionInSingleFile=true -p:IncludeAllContentForSelfExtract=true \
  -p:DebugType=none -p:SpeedrunDeviceKit=true -o "$out" >/dev/null
# A few MB of real tokens for the step timings (the GPU machine has no SDK to build the default corpus).
mkdir -p .device/data
shard=$(dotnet "src/Speedrun.Cli/bin/Release/net10.0/speedrun.dll" data corpus 2>/dev/null | sed -n 's/^ *train [0-9,]* tokens: //p')
cp "$(dirname "$shard")/train_000000.bin" "$(dirname "$shard")/val_000000.bin" .device/data/
size=$(stat -c %s "$out/speedrun")
echo "published $out/speedrun: $((size / 1024 / 1024)) MiB"
if [ "$size" -gt $((50 * 1024 * 1024)) ]; then
  echo "error: the single-file publish is over 50 MiB; something heavy (TorchSharp?) got referenced" >&2
  exit 1
fi
