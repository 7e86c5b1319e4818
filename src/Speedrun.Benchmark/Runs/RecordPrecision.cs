using System.Text.RegularExpressions;
using Speedrun.Core.Autograd;

namespace Speedrun.Benchmark.Runs;

/// <summary>
/// The matmul precision a record's loop puts its forward and backward under, read from the program's own line, for
/// code that builds the record's model without its loop (the doctor, the tests): <c>var precision =
/// ctx.Device.IsCuda ? MatmulPrecision.BF16 : MatmulPrecision.F32;</c> (records 1-9: bf16 autocast on the GPU only) or
/// <c>var precision = MatmulPrecision.BF16;</c> (records 10+: bf16 products on every device).
/// </summary>
public static class RecordPrecision
{
    public static MatmulPrecision Of(LoadedProgram program, bool isCuda)
    {
        var line = Regex.Match(File.ReadAllText(program.SourcePath), @"^var precision = (.+);\s*$", RegexOptions.Multiline);
        return line.Groups[1].Value switch
        {
            "ctx.Device.IsCuda ? MatmulPrecision.BF16 : MatmulPrecision.F32" => isCuda ? MatmulPrecision.BF16 : MatmulPrecision.F32,
            "MatmulPrecision.BF16" => MatmulPrecision.BF16,
            "MatmulPrecision.F32" => MatmulPrecision.F32,
            "" => throw new NotSupportedException($"{program.SourcePath}: no top-level 'var precision = ...;' line to tell its matmul precision from."),
            var other => throw new NotSupportedException($"{program.SourcePath}: cannot tell the matmul precision from 'var precision = {other};'."),
        };
    }
}
