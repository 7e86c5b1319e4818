using System.Runtime.CompilerServices;
using System.Text;

namespace Speedrun.Tests.Shared;

/// <summary>
/// TorchSharp-cpu 0.107's libLibTorchSharp.so asks for GLIBCXX_3.4.32 for one symbol it never calls
/// (std::ios_base_library_init); Debian 12's libstdc++ stops at 3.4.30, so the loader refuses it.
/// Marking that one version requirement weak (VER_FLG_WEAK in .gnu.version_r) lets it load. We patch
/// the copy in our own build output, never the NuGet cache, and only when the system lacks the version.
/// See shared/notes/torchsharp-on-debian12.md. Runs as a module initializer, before TorchSharp loads.
/// </summary>
internal static class TorchSharpLoaderFix
{
    const string MissingVersion = "GLIBCXX_3.4.32";

#pragma warning disable CA2255 // a module initializer is the one place that runs before TorchSharp loads
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Apply()
    {
        if (!OperatingSystem.IsLinux()) return;
        var lib = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        if (!File.Exists(lib) || SystemHasVersion()) return;
        try
        {
            MarkVersionWeak(lib, MissingVersion);
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"TorchSharpLoaderFix: could not patch {lib}: {e.Message}");
        }
    }

    static bool SystemHasVersion()
    {
        foreach (var dir in new[] { "/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib" })
        {
            var path = Path.Combine(dir, "libstdc++.so.6");
            if (!File.Exists(path)) continue;
            var bytes = File.ReadAllBytes(path);
            return IndexOf(bytes, Encoding.ASCII.GetBytes(MissingVersion + "\0")) >= 0;
        }
        return false;
    }

    /// <summary>ORs VER_FLG_WEAK into the vna_flags of the Vernaux entry naming <paramref name="version"/>.</summary>
    internal static bool MarkVersionWeak(string path, string version)
    {
        var elf = File.ReadAllBytes(path);
        if (elf.Length < 64 || elf[0] != 0x7F || elf[1] != 'E' || elf[4] != 2 /* ELFCLASS64 */ || elf[5] != 1 /* LE */)
            throw new InvalidDataException("not a little-endian ELF64 file");
        long shoff = BitConverter.ToInt64(elf, 0x28);
        int shentsize = BitConverter.ToUInt16(elf, 0x3A), shnum = BitConverter.ToUInt16(elf, 0x3C);
        for (int s = 0; s < shnum; s++)
        {
            long sh = shoff + (long)s * shentsize;
            if (BitConverter.ToUInt32(elf, (int)sh + 4) != 0x6FFFFFFE) continue; // SHT_GNU_verneed
            long offset = BitConverter.ToInt64(elf, (int)sh + 0x18);
            int link = BitConverter.ToInt32(elf, (int)sh + 0x28);
            long strOffset = BitConverter.ToInt64(elf, (int)(shoff + (long)link * shentsize) + 0x18);
            long vn = offset;
            while (true)
            {
                int count = BitConverter.ToUInt16(elf, (int)vn + 2);
                long aux = vn + BitConverter.ToUInt32(elf, (int)vn + 8);
                for (int i = 0; i < count; i++)
                {
                    uint name = BitConverter.ToUInt32(elf, (int)aux + 8);
                    if (ReadString(elf, strOffset + name) == version)
                    {
                        ushort flags = BitConverter.ToUInt16(elf, (int)aux + 4);
                        if ((flags & 0x2) != 0) return false; // already weak
                        BitConverter.GetBytes((ushort)(flags | 0x2)).CopyTo(elf, (int)aux + 4);
                        var temp = path + ".patching";
                        File.WriteAllBytes(temp, elf);
                        File.Move(temp, path, overwrite: true);
                        return true;
                    }
                    uint nextAux = BitConverter.ToUInt32(elf, (int)aux + 12);
                    if (nextAux == 0) break;
                    aux += nextAux;
                }
                uint next = BitConverter.ToUInt32(elf, (int)vn + 12);
                if (next == 0) break;
                vn += next;
            }
        }
        return false;
    }

    static string ReadString(byte[] bytes, long at)
    {
        int end = (int)at;
        while (bytes[end] != 0) end++;
        return Encoding.ASCII.GetString(bytes, (int)at, end - (int)at);
    }

    static int IndexOf(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle);
}
