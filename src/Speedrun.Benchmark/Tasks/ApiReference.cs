using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Speedrun.Core.Autograd;

namespace Speedrun.Benchmark.Tasks;

/// <summary>
/// API.md for a task workspace: every public type and member a Train.cs can use from Speedrun.Core and
/// Speedrun.Kernels, with its signature and the summary from the engine's XML documentation, plus a worked
/// example of a program's own differentiable op. Generated from the assemblies the runner compiles programs
/// against, so it always matches them.
/// </summary>
public static class ApiReference
{
    /// <summary>The file name in a workspace.</summary>
    public const string FileName = "API.md";

    /// <summary>The assemblies a program compiles against that we document (the base library and ILGPU have their own docs).</summary>
    public static IReadOnlyList<Assembly> Assemblies { get; } = [typeof(Tensor).Assembly, typeof(Kernels.Runtime.Device).Assembly];

    /// <summary>The whole markdown text.</summary>
    public static string Render()
    {
        var sb = new StringBuilder();
        sb.Append("# The engine API a `Train.cs` compiles against\n\n");
        sb.Append("Generated from Speedrun.Core and Speedrun.Kernels (engine ")
          .Append(Core.Training.HardwareFingerprint.EngineVersion)
          .Append(") and their XML documentation. A program also sees the .NET base library and ILGPU ")
          .Append("(ILGPU.Algorithms included), and nothing else: the harness that times and scores runs is not available to it.\n\n");
        sb.Append(Guide);
        foreach (var assembly in Assemblies)
        {
            var docs = LoadDocs(assembly);
            foreach (var ns in assembly.GetExportedTypes().GroupBy(t => t.Namespace ?? "").OrderBy(g => g.Key, StringComparer.Ordinal))
            {
                sb.Append("## ").Append(ns.Key).Append("\n\n");
                foreach (var type in ns.OrderBy(t => t.FullName, StringComparer.Ordinal))
                    AppendType(sb, type, docs);
            }
        }
        return sb.ToString();
    }

    const string Guide = """
        ## How a program is put together

        - `RunContext.FromEnvironment()` opens the device, the data and the log; read sizes through `ctx.Track`.
        - Tensors are F32 (or I32 token ids), contiguous, on `ctx.Device`. Ops are in `F` (named as in
          torch.nn.functional) and as methods and operators on `Tensor`; element-wise ops broadcast a smaller operand
          over leading dimensions or a one-element tensor.
        - Make tensors for one micro-step inside `using var scope = new TensorScope();`: they are freed when it ends.
          Parameters (`Module.Parameter`) and optimizer state live until disposed.
        - `loss.Backward()` accumulates into every parameter's `Grad`. Optimizers read `Grad` and update in place
          (`Add_`, `Mul_`, `Lerp_`, `Copy_`) inside `using (GradMode.NoGrad())`; `F.Matmul` under
          `Autocast.Use(MatmulPrecision.BF16)` gives bf16 products.
        - `Gradcheck.Check` compares a function's backward with finite differences.

        ## Your own differentiable op, with your own kernel

        A `Function` computes its outputs in `Forward` (with any ops or kernels; nothing inside is recorded) and
        returns the input gradients from `Backward`. A kernel is a static method in ILGPU's C# dialect; loop with a
        grid stride (`Threads.Index`, `Threads.Count`) and launch with `device.Launch.For(n)`, so the same kernel is
        fast on the CPU accelerator and on CUDA. Kernel parameter types must be public. `device.Kernels(...)` caches a
        loaded kernel per device.

        ```csharp
        sealed class ScaledSquare(float scale) : Function("scaled_square")
        {
            protected override Tensor[] Forward(Tensor[] inputs)
            {
                var x = inputs[0];
                var y = Tensor.Empty(x.Device, x.Shape);
                var k = x.Device.Kernels(static d => new ScaledSquareKernels(d));
                k.Run(x.Device.Launch.For(x.Length), x.F32, scale, y.F32);
                return [y];
            }

            // d(s·x²)/dx = 2·s·x
            public override Tensor?[] Backward(Tensor[] dy) => [2f * scale * Inputs[0] * dy[0]];
        }

        sealed class ScaledSquareKernels(Device device)
        {
            public readonly Action<KernelConfig, ArrayView<float>, float, ArrayView<float>> Run =
                device.Accelerator.LoadStreamKernel<ArrayView<float>, float, ArrayView<float>>(Kernel);

            static void Kernel(ArrayView<float> x, float scale, ArrayView<float> y)
            {
                for (int i = Threads.Index; i < y.IntLength; i += Threads.Count) y[i] = scale * x[i] * x[i];
            }
        }

        var y = new ScaledSquare(0.5f).Apply(x);
        ```

        An element-wise op needs no kernel at all: a struct implementing `IUnaryOp` (its value and its derivative)
        passed to `F.Unary<TOp>(x)` is compiled into one fused kernel for forward and one for backward.


        """;

    static void AppendType(StringBuilder sb, Type type, IReadOnlyDictionary<string, XElement> docs)
    {
        sb.Append("### ").Append(Kind(type)).Append(' ').Append(TypeName(type)).Append("\n\n");
        if (docs.TryGetValue("T:" + DocTypeName(type), out var typeDoc)) AppendDoc(sb, typeDoc, indent: "");
        if (type.IsEnum)
        {
            foreach (var name in Enum.GetNames(type))
                sb.Append("- `").Append(name).Append('`').Append(Summary(docs, $"F:{DocTypeName(type)}.{name}")).Append('\n');
            sb.Append('\n');
            return;
        }
        const BindingFlags flags = BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        var lines = new List<string>();
        foreach (var c in type.GetConstructors(flags).Where(c => !type.IsAbstract || c.IsFamily || c.IsPublic))
            lines.Add($"- `{(c.IsStatic ? "static " : "")}{TypeName(type, bare: true)}({Parameters(c)})`{Summary(docs, "M:" + DocTypeName(type) + ".#ctor" + DocParameters(c))}");
        foreach (var c in type.GetConstructors(BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.DeclaredOnly).Where(c => c.IsFamily || c.IsFamilyOrAssembly))
            lines.Add($"- `protected {TypeName(type, bare: true)}({Parameters(c)})`{Summary(docs, "M:" + DocTypeName(type) + ".#ctor" + DocParameters(c))}");
        foreach (var f in type.GetFields(flags).Where(f => !f.IsSpecialName))
            lines.Add($"- `{(f.IsLiteral ? "const " : f.IsStatic ? "static " : "")}{TypeName(f.FieldType)} {f.Name}`{Summary(docs, $"F:{DocTypeName(type)}.{f.Name}")}");
        foreach (var p in type.GetProperties(flags).Where(p => p.GetMethod is { IsPublic: true } || p.GetMethod is { IsFamily: true }))
        {
            bool isStatic = p.GetMethod!.IsStatic;
            string access = p.SetMethod is { IsPublic: true } ? (IsInitOnly(p) ? " { get; init; }" : " { get; set; }") : " { get; }";
            lines.Add($"- `{(isStatic ? "static " : "")}{TypeName(p.PropertyType)} {p.Name}{access}`{Summary(docs, $"P:{DocTypeName(type)}.{p.Name}")}");
        }
        foreach (var m in type.GetMethods(flags | BindingFlags.NonPublic).Where(m => (m.IsPublic || m.IsFamily) && !m.IsSpecialName || m.Name.StartsWith("op_", StringComparison.Ordinal) && m.IsPublic))
        {
            if (IsRecordPlumbing(m)) continue;
            string modifiers = (m.IsFamily ? "protected " : "") + (m.IsStatic ? "static " : "") + (m.IsAbstract && !type.IsInterface ? "abstract " : m.GetBaseDefinition() != m ? "override " : m.IsVirtual && !m.IsFinal && !type.IsInterface ? "virtual " : "");
            string name = m.Name.StartsWith("op_", StringComparison.Ordinal) ? "operator " + Operator(m.Name) : m.Name;
            string generic = m.IsGenericMethod ? "<" + string.Join(", ", m.GetGenericArguments().Select(a => a.Name)) + ">" : "";
            lines.Add($"- `{modifiers}{TypeName(m.ReturnType)} {name}{generic}({Parameters(m)})`{Summary(docs, "M:" + DocTypeName(type) + "." + m.Name + (m.IsGenericMethod ? "``" + m.GetGenericArguments().Length : "") + DocParameters(m))}");
        }
        foreach (var line in lines) sb.Append(line).Append('\n');
        sb.Append('\n');
    }

    /// <summary>The members the compiler writes for a record (equality, deconstruction, printing).</summary>
    static bool IsRecordPlumbing(MethodInfo m)
    {
        bool isRecord = m.DeclaringType!.GetMethod("PrintMembers", BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Public) is not null;
        return isRecord && m.Name is "<Clone>$" or "Deconstruct" or "PrintMembers" or "GetHashCode" or "Equals" or "ToString" or "op_Equality" or "op_Inequality";
    }

    static bool IsRecord(Type t) => t.GetMethod("PrintMembers", BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Public) is not null;

    static bool IsInitOnly(PropertyInfo p) =>
        p.SetMethod!.ReturnParameter.GetRequiredCustomModifiers().Any(t => t.FullName == "System.Runtime.CompilerServices.IsExternalInit");

    static string Kind(Type t) =>
        t.IsEnum ? "enum" : t.IsInterface ? "interface" : t.IsValueType ? (IsRecord(t) ? "record struct" : "struct")
        : IsRecord(t) ? "record" : t.IsAbstract && t.IsSealed ? "static class" : t.IsAbstract ? "abstract class" : "class";

    static string Operator(string name) => name switch
    {
        "op_Addition" => "+", "op_Subtraction" => "-", "op_Multiply" => "*", "op_Division" => "/",
        "op_UnaryNegation" => "-", "op_Equality" => "==", "op_Inequality" => "!=", _ => name[3..],
    };

    static string Parameters(MethodBase m) => string.Join(", ", m.GetParameters().Select(p =>
        (p.GetCustomAttribute<ParamArrayAttribute>() is not null ? "params " : "") +
        (p.IsOut ? "out " : p.ParameterType.IsByRef ? (p.IsIn ? "in " : "ref ") : "") +
        TypeName(p.ParameterType.IsByRef ? p.ParameterType.GetElementType()! : p.ParameterType, nullable: IsNullable(p)) + " " + p.Name +
        (p.HasDefaultValue ? " = " + Literal(p.DefaultValue) : "")));

    static bool IsNullable(ParameterInfo p) => new NullabilityInfoContext().Create(p).WriteState == NullabilityState.Nullable;

    static string Literal(object? v) => v switch
    {
        null => "null", string s => $"\"{s}\"", bool b => b ? "true" : "false", float f => f.ToString("R", System.Globalization.CultureInfo.InvariantCulture) + "f",
        double d => d.ToString("R", System.Globalization.CultureInfo.InvariantCulture), Enum e => e.GetType().Name + "." + e, _ => Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture) ?? "",
    };

    static string TypeName(Type t, bool bare = false, bool nullable = false)
    {
        if (Nullable.GetUnderlyingType(t) is { } u) return TypeName(u) + "?";
        string suffix = nullable && !t.IsValueType ? "?" : "";
        if (t.IsArray) return TypeName(t.GetElementType()!) + "[]" + suffix;
        string name = t.Name;
        string? alias = t.FullName switch
        {
            "System.Void" => "void", "System.Single" => "float", "System.Double" => "double", "System.Int32" => "int",
            "System.Int64" => "long", "System.Boolean" => "bool", "System.String" => "string", "System.Object" => "object",
            "System.UInt16" => "ushort", _ => null,
        };
        if (alias is not null) return alias + suffix;
        if (t.IsGenericType)
        {
            name = name[..name.IndexOf('`')];
            if (t.FullName?.StartsWith("System.ValueTuple", StringComparison.Ordinal) == true)
                return "(" + string.Join(", ", t.GetGenericArguments().Select(a => TypeName(a))) + ")";
            if (!bare) name += "<" + string.Join(", ", t.GetGenericArguments().Select(a => TypeName(a))) + ">";
        }
        if (t.IsNested && !t.IsGenericParameter && !bare) name = TypeName(t.DeclaringType!, bare: true) + "." + name;
        return name + suffix;
    }

    // ---- XML documentation ----

    static IReadOnlyDictionary<string, XElement> LoadDocs(Assembly assembly)
    {
        var path = Path.ChangeExtension(assembly.Location, ".xml");
        if (string.IsNullOrEmpty(assembly.Location) || !File.Exists(path)) return new Dictionary<string, XElement>();
        return XDocument.Load(path).Descendants("member")
            .Where(m => m.Attribute("name") is not null)
            .GroupBy(m => m.Attribute("name")!.Value)
            .ToDictionary(g => g.Key, g => g.First());
    }

    static string DocTypeName(Type t) => (t.FullName ?? t.Name).Replace('+', '.');

    static string DocParameters(MethodBase m)
    {
        var ps = m.GetParameters();
        if (ps.Length == 0) return "";
        return "(" + string.Join(",", ps.Select(p => DocType(p.ParameterType))) + ")";
    }

    static string DocType(Type t)
    {
        if (t.IsByRef) return DocType(t.GetElementType()!) + "@";
        if (t.IsArray) return DocType(t.GetElementType()!) + "[]";
        if (t.IsGenericParameter) return (t.DeclaringMethod is not null ? "``" : "`") + t.GenericParameterPosition;
        if (t.IsGenericType)
        {
            var def = t.GetGenericTypeDefinition().FullName!;
            return def[..def.IndexOf('`')].Replace('+', '.') + "{" + string.Join(",", t.GetGenericArguments().Select(DocType)) + "}";
        }
        return (t.FullName ?? t.Name).Replace('+', '.');
    }

    static string Summary(IReadOnlyDictionary<string, XElement> docs, string id)
    {
        if (!docs.TryGetValue(id, out var member)) return "";
        var summary = member.Element("summary");
        var text = summary is null ? member.Element("inheritdoc") is not null ? "" : "" : Text(summary);
        return text.Length == 0 ? "" : " — " + text.Replace("\n", " ");
    }

    static void AppendDoc(StringBuilder sb, XElement member, string indent)
    {
        if (member.Element("summary") is { } s) sb.Append(indent).Append(Text(s, keepBlocks: true)).Append("\n\n");
    }

    /// <summary>Markdown from a doc element: references and inline code in backticks, code blocks fenced
    /// (kept only where <paramref name="keepBlocks"/>), other whitespace folded.</summary>
    static string Text(XElement element, bool keepBlocks = false)
    {
        var pieces = new List<(bool Code, string Text)>();
        Collect(element, pieces, keepBlocks);
        var sb = new StringBuilder();
        foreach (var (code, text) in pieces)
            sb.Append(code ? text : Regex.Replace(text, @"\s+", " "));
        return Regex.Replace(sb.ToString(), @" *\n\n\n+", "\n\n").Trim();
    }

    static void Collect(XElement element, List<(bool, string)> pieces, bool keepBlocks)
    {
        foreach (var node in element.Nodes())
        {
            switch (node)
            {
                case XText text: pieces.Add((false, text.Value)); break;
                case XElement { Name.LocalName: "see" or "seealso" } see:
                    var cref = see.Attribute("cref")?.Value ?? see.Attribute("langword")?.Value ?? "";
                    var shortName = Regex.Replace(cref.Contains(':') ? cref[(cref.IndexOf(':') + 1)..] : cref, @"\(.*\)$", "");
                    var parts = shortName.Split('.');
                    bool member = parts.Length >= 2 && cref.Length > 1 && cref[0] is 'M' or 'P' or 'F';
                    pieces.Add((false, "`" + (member ? parts[^2] + "." + parts[^1] : parts[^1]) + "`"));
                    break;
                case XElement { Name.LocalName: "paramref" or "typeparamref" } p: pieces.Add((false, "`" + p.Attribute("name")?.Value + "`")); break;
                case XElement { Name.LocalName: "c" } c: pieces.Add((false, "`" + c.Value + "`")); break;
                case XElement { Name.LocalName: "code" } code:
                    pieces.Add(keepBlocks ? (true, "\n\n```csharp\n" + Dedent(code.Value) + "\n```\n\n") : (false, " (example in API.md's type section) "));
                    break;
                case XElement e: Collect(e, pieces, keepBlocks); break;
            }
        }
    }

    static string Dedent(string code)
    {
        var lines = code.Trim('\n', '\r').Split('\n');
        int indent = lines.Where(l => l.Trim().Length > 0).Select(l => l.Length - l.TrimStart().Length).DefaultIfEmpty(0).Min();
        return string.Join("\n", lines.Select(l => l.Length >= indent ? l[indent..].TrimEnd() : l.TrimEnd()));
    }
}
