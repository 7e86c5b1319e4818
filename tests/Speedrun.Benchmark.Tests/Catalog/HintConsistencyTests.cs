using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Speedrun.Benchmark.Catalog;
using Speedrun.Benchmark.Tasks;

namespace Speedrun.Benchmark.Tests.Catalog;

/// <summary>
/// The hints of task N are read next to record N's Train.cs, so every name they mark as code must be one the agent
/// can find: an identifier of record N's or N+1's program, a public name of the engine API (what API.md lists), or
/// an allow-listed word that describes the original PyTorch code. See <see cref="HintCodeNames"/> for the rule.
/// No hint may report the public benchmark's scores (FSR, agents' results): see <see cref="HintScoreText"/>.
/// </summary>
public sealed class HintConsistencyTests
{
    private static readonly string RepoRoot = BenchmarkCatalog.FindRoot(AppContext.BaseDirectory, home: null);
    private static readonly BenchmarkCatalog Real = BenchmarkCatalog.Load(RepoRoot);

    /// <summary>The tasks whose hints are checked against the programs: 1-20 (task 6 excluded), i.e. every task, since
    /// records 1-21 are all written. Raise it if records are added and their hints have been brought in line.</summary>
    private const int LastCheckedTask = 20;

    private static IEnumerable<int> CheckedTaskNumbers => Real.Tasks.Where(t => t.Number <= LastCheckedTask).Select(t => t.Number);

    public static TheoryData<int> CheckedTasks => new(CheckedTaskNumbers);

    public static TheoryData<int> AllTasks => new(Real.Tasks.Select(t => t.Number));

    [Theory]
    [MemberData(nameof(CheckedTasks))]
    public void Every_code_name_in_a_hint_exists_in_the_programs_or_the_engine_API(int taskNumber)
    {
        var task = Real.GetTask(taskNumber);
        Assert.SkipUnless(task.IsOpen, $"task {taskNumber} needs both programs; missing: {string.Join(", ", task.MissingTrainFiles)}");
        var known = KnownNames.For(File.ReadAllText(task.Start.TrainPath), File.ReadAllText(task.Next.TrainPath));
        var problems = new List<string>();
        foreach (var level in HintLevels.Stored)
            problems.AddRange(known.Check(task.ReadHint(level)).Select(p => $"{task.HintPath(level)}:{p}"));
        Assert.True(problems.Count == 0,
            $"Task {taskNumber}: names marked as code that record {task.Start.Number}'s and {task.Next.Number}'s Train.cs, " +
            $"the engine API and the allow-list do not have:\n{string.Join("\n", problems)}");
    }

    [Fact]
    public void The_checked_tasks_are_1_to_20_and_open()
    {
        Assert.Equal([1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20], CheckedTaskNumbers);
        Assert.All(Real.Tasks.Where(t => t.Number <= LastCheckedTask), t => Assert.True(t.IsOpen, $"task {t.Number} is not open"));
    }

    [Theory]
    [MemberData(nameof(AllTasks))]
    public void No_hint_reports_FSR_or_agents_scores(int taskNumber)
    {
        var task = Real.GetTask(taskNumber);
        var found = HintLevels.Stored.SelectMany(level => HintScoreText.Find(task.ReadHint(level)).Select(f => $"{task.HintPath(level)}:{f}")).ToList();
        Assert.True(found.Count == 0, $"Task {taskNumber}'s hints report benchmark scores or agents' results (not the agent's business):\n{string.Join("\n", found)}");
    }

    [Fact]
    public void Every_allow_listed_name_is_still_needed_and_has_a_reason()
    {
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var task in Real.Tasks.Where(t => t.Number <= LastCheckedTask && t.IsOpen))
        {
            var known = KnownNames.For(File.ReadAllText(task.Start.TrainPath), File.ReadAllText(task.Next.TrainPath));
            foreach (var level in HintLevels.Stored)
                used.UnionWith(known.AllowListedIn(task.ReadHint(level)));
        }
        Assert.All(KnownNames.OriginalCodeNames, entry =>
        {
            Assert.True(entry.Value.Length > 20, $"allow-list entry '{entry.Key}' needs a reason");
            Assert.True(used.Contains(entry.Key), $"allow-list entry '{entry.Key}' is used by no checked hint: remove it");
        });
    }

    // ---- The checker on made-up hints: it must be able to fail ----

    private const string FakeProgram = """
        using Speedrun.Core.Training.Optimizers;
        var hp = new Hyperparameters();
        sealed record Hyperparameters
        {
            public int WarmdownSteps { get; init; } = 900;
            public float MuonLearningRate { get; init; } = 0.04f; // a comment naming CommentOnlyName
            public string Label { get; init; } = "StringOnlyName";
        }
        """;

    [Fact]
    public void A_fake_hint_naming_missing_identifiers_is_reported()
    {
        var known = KnownNames.For(FakeProgram);
        const string hint = """
            # Task 99 → record 100

            Set `WarmdownStepz` (a typo), call `F.rms_norm(x)` and `F.RmsNorm(x)`, use `AdamW.Group`.
            Also `CommentOnlyName` and `StringOnlyName`, which the program has only in a comment and a string.

            ```
            WarmdownSteps = 900                  # NotChecked: comments are prose
            MuonLearningRate = lr_mult(step) * 2
            u = NewtonSchulz7(g)                 // plain words (u, g, sqrt) are pseudocode
            x = x + skip_weights[i] * sqrt(y)
            Tensor.Lerp_(end, 0.5); F.Lerp_(end, 0.5)
            ```
            """;
        var problems = known.Check(hint);
        string all = string.Join("\n", problems);
        foreach (var missing in new[] { "WarmdownStepz", "F.rms_norm", "CommentOnlyName", "StringOnlyName", "lr_mult", "NewtonSchulz7", "skip_weights", "F.Lerp_" })
            Assert.Contains(missing, all);
        foreach (var fine in new[] { "`WarmdownSteps`", "`MuonLearningRate`", "F.RmsNorm", "AdamW.Group", "NotChecked", "Tensor.Lerp_", "sqrt" })
            Assert.DoesNotContain(fine, all);
        Assert.Equal(8, problems.Count);
        Assert.Contains(problems, p => p.StartsWith("3: ", StringComparison.Ordinal) && p.Contains("F.rms_norm", StringComparison.Ordinal));
    }

    [Fact]
    public void A_fake_hint_with_only_known_names_passes()
    {
        var known = KnownNames.For(FakeProgram, "sealed class Muon { static void NewtonSchulz5() { } }");
        const string hint = """
            # Task 99

            `Muon` runs `NewtonSchulz5`; its rate is `hp.MuonLearningRate` and the schedule's `WarmdownSteps`.
            Parameters go in `AdamW.Group`s; `F.ScaledDotProductAttention(q, k, v, isCausal: true)` is attention.

            ```
            Muon.NewtonSchulz5(g)   # orthogonalise
            using (Autocast.Use(MatmulPrecision.BF16)) y = F.Matmul(a, b)
            GPT, QKV, SUM and W are capitals, not code names; x0, buf, rotary are pseudocode words
            ```
            """;
        Assert.Empty(known.Check(hint));
    }

    [Fact]
    public void Names_are_extracted_from_code_spans_and_fenced_blocks_only()
    {
        const string hint = """
            Prose mentions NotCode and lr_mult freely; `inline.Code(x)` and `lamb` are code.
            ```
            a = Fenced.Name(b, camelCase, snake_case, ALLCAPS, FLT_EPSILON, 1e-6, 3.6e-4)  # Comment
            s = "InString"
            ```
            """;
        var names = HintCodeNames.Extract(hint).Select(n => n.Text).ToList();
        Assert.Equal(["inline.Code", "lamb", "Fenced.Name", "camelCase", "snake_case", "FLT_EPSILON"], names);
    }

    [Fact]
    public void A_fake_hint_reporting_scores_is_reported()
    {
        string[] bad =
        [
            "Record 2 is the easiest task in the public benchmark (mean FSR about 0.6 across agents).",
            "Agents found this task hard in the public benchmark.",
            "In the public benchmark this was one of the easier tasks.",
            "Agents in the public benchmark rarely managed it.",
            "so measurement noise matters for this task's score.",
            "its fraction of speedup recovered was small",
            "they scored 0.4 on it",
        ];
        foreach (var text in bad)
            Assert.True(HintScoreText.Find(text).Count > 0, $"not caught: {text}");
        string[] fine =
        [
            "attention scores become a function of relative distance",
            "The harness re-measured 23.1 min against 36.8 min for record 2.",
            "the first 10 steps are excluded from the timer",
        ];
        foreach (var text in fine)
            Assert.Empty(HintScoreText.Find(text));
    }
}

/// <summary>
/// Which names a hint marks as code. The rule:
/// <list type="number">
/// <item>Code is (a) an inline code span, `...` on one line, anywhere in the hint, and (b) every line of a fenced block
/// (```) (level 1's pseudocode). Anything else is prose and is not checked.</item>
/// <item>In a fenced block, comments (from # or // to the end of the line) and "string literals" are prose too.</item>
/// <item>A name is a dotted chain of identifiers, Type.Member.Member, not preceded by a letter, digit or '_' (so the
/// e of 1e-6 is no name). Each segment of a chain is judged on its own.</item>
/// <item>In an inline span every segment of two or more characters is checked: backticks say "this is code".</item>
/// <item>In a fenced block only segments that look like C# or Python code names are checked: PascalCase (an upper-case
/// first letter and a lower-case letter somewhere: Muon, WarmdownSteps, AdamW, NewtonSchulz5, RmsNorm), camelCase
/// (lower-case first, an upper-case letter later: lrScale), or any name with an underscore next to a letter
/// (lr_mult, skip_weights, _lambdas, Lerp_, FLT_EPSILON). Plain lower-case words (x, buf, sqrt, rotary, def) are
/// the pseudocode's own vocabulary, and capitals without a lower-case letter (GPT, QKV, W) are notation.</item>
/// </list>
/// </summary>
internal static class HintCodeNames
{
    /// <summary>A name marked as code: the chain as written, its 1-based line, and whether it came from a fenced block.</summary>
    internal sealed record CodeName(string Text, int Line, bool Fenced)
    {
        public IReadOnlyList<string> Segments => Text.Split('.');
    }

    private static readonly Regex Chain = new(@"(?<![A-Za-z0-9_])[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*", RegexOptions.Compiled);
    private static readonly Regex InlineSpan = new(@"(?<!`)`([^`\n]+)`(?!`)", RegexOptions.Compiled);
    private static readonly Regex StringLiteral = new("\"[^\"]*\"", RegexOptions.Compiled);

    public static IEnumerable<CodeName> Extract(string markdown)
    {
        var lines = markdown.Replace("\r\n", "\n").Split('\n');
        bool fenced = false;
        for (int i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            if (line.TrimStart().StartsWith("```", StringComparison.Ordinal))
            {
                fenced = !fenced;
                continue;
            }
            if (fenced)
            {
                foreach (Match m in Chain.Matches(StringLiteral.Replace(WithoutComment(line), " ")))
                    if (m.Value.Split('.').Any(LooksLikeCodeName))
                        yield return new CodeName(m.Value, i + 1, Fenced: true);
            }
            else
            {
                foreach (Match span in InlineSpan.Matches(line))
                    foreach (Match m in Chain.Matches(StringLiteral.Replace(span.Groups[1].Value, " ")))
                        if (m.Value.Split('.').Any(s => s.Length >= 2))
                            yield return new CodeName(m.Value, i + 1, Fenced: false);
            }
        }
    }

    /// <summary>Whether a segment of a chain is checked (see the rule above).</summary>
    public static bool IsChecked(string segment, bool fenced) => fenced ? LooksLikeCodeName(segment) : segment.Length >= 2;

    /// <summary>PascalCase, camelCase, or a name with an underscore next to a letter.</summary>
    public static bool LooksLikeCodeName(string s) =>
        char.IsUpper(s[0]) && s.Any(char.IsLower)
        || char.IsLower(s[0]) && s.Any(char.IsUpper)
        || Regex.IsMatch(s, "[A-Za-z]_|_[A-Za-z]");

    /// <summary>The line up to a # or // comment outside a "string".</summary>
    private static string WithoutComment(string line)
    {
        bool inString = false;
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (c == '"') inString = !inString;
            else if (!inString && (c == '#' || c == '/' && i + 1 < line.Length && line[i + 1] == '/')) return line[..i];
        }
        return line;
    }
}

/// <summary>
/// The names a hint of task N may mark as code: identifiers and keywords of record N's and N+1's Train.cs (as the
/// C# compiler tokenises them, so not the words of comments or strings), the public and protected type and member
/// names of the engine API (the assemblies API.md documents) with their parameters' names, C# keywords, and <see cref="OriginalCodeNames"/>. A chain whose
/// qualifier is an engine type (F.RmsNorm, AdamW.Group, Tensor.Lerp_) must also name a member of that type, unless
/// the programs declare a type of the same name.
/// </summary>
internal sealed class KnownNames
{
    /// <summary>
    /// Words a hint may mark as code although neither program nor the engine has them, because they describe the
    /// original PyTorch code, each with the reason. Keep it short: a hint should use the programs' own names.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> OriginalCodeNames = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["CastedLinear"] = "record 10's PyTorch class (an nn.Linear keeping fp32 weights, cast to bf16 in forward); " +
                           "the hint names it to say what the original did, and that our Linear under bf16 autocast already behaves so",
        ["torch.compile"] = "the PyTorch compiler that fused the original's element-wise ops; named to explain why the C# program " +
                            "rounds to bf16 once per fused chain, not to be called",
    };

    private static readonly Lazy<(HashSet<string> Names, Dictionary<string, HashSet<string>> Members)> Engine = new(LoadEngine);

    private readonly HashSet<string> _programNames;
    private readonly HashSet<string> _programTypes;

    private KnownNames(HashSet<string> programNames, HashSet<string> programTypes) =>
        (_programNames, _programTypes) = (programNames, programTypes);

    /// <summary>The names of the given programs' sources plus the engine API and the allow-list.</summary>
    public static KnownNames For(params string[] programSources)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        var types = new HashSet<string>(StringComparer.Ordinal);
        foreach (var source in programSources)
        {
            var root = CSharpSyntaxTree.ParseText(source).GetRoot();
            foreach (var token in root.DescendantTokens())
                if (token.IsKind(SyntaxKind.IdentifierToken) || SyntaxFacts.IsKeywordKind(token.Kind()) || SyntaxFacts.IsContextualKeyword(token.Kind()))
                    names.Add(token.ValueText);
            foreach (var declaration in root.DescendantNodes().OfType<Microsoft.CodeAnalysis.CSharp.Syntax.BaseTypeDeclarationSyntax>())
                types.Add(declaration.Identifier.ValueText);
        }
        return new KnownNames(names, types);
    }

    /// <summary>Problems as "line: `name` ...", one per name marked as code that is not known.</summary>
    public IReadOnlyList<string> Check(string hint)
    {
        var (engineNames, engineMembers) = Engine.Value;
        var problems = new List<string>();
        foreach (var name in HintCodeNames.Extract(hint))
        {
            if (OriginalCodeNames.ContainsKey(name.Text)) continue;
            var segments = name.Segments;
            var unknown = segments.Where(s => HintCodeNames.IsChecked(s, name.Fenced) && !OriginalCodeNames.ContainsKey(s)
                                             && !_programNames.Contains(s) && !engineNames.Contains(s) && !IsKeyword(s)).ToList();
            string where = name.Fenced ? "in a code block" : "in backticks";
            if (unknown.Count > 0)
            {
                problems.Add($"{name.Line}: `{name.Text}` ({where}): {string.Join(", ", unknown)} is in neither program, the engine API nor the allow-list");
                continue;
            }
            for (int i = 0; i + 1 < segments.Count; i++)
                if (engineMembers.TryGetValue(segments[i], out var members) && !_programTypes.Contains(segments[i])
                    && !members.Contains(segments[i + 1]) && HintCodeNames.IsChecked(segments[i + 1], name.Fenced))
                {
                    problems.Add($"{name.Line}: `{name.Text}` ({where}): the engine type {segments[i]} has no member {segments[i + 1]}");
                    break;
                }
        }
        return problems;
    }

    private static bool IsKeyword(string s) =>
        SyntaxFacts.GetKeywordKind(s) != SyntaxKind.None || SyntaxFacts.GetContextualKeywordKind(s) != SyntaxKind.None;

    /// <summary>The allow-list entries a hint uses (the whole chain or one of its segments).</summary>
    public IEnumerable<string> AllowListedIn(string hint) =>
        HintCodeNames.Extract(hint)
            .SelectMany(n => n.Segments.Prepend(n.Text))
            .Where(OriginalCodeNames.ContainsKey);

    /// <summary>Every exported type of the engine assemblies, with its public and protected members (inherited ones
    /// included, for the Type.Member check).</summary>
    private static (HashSet<string>, Dictionary<string, HashSet<string>>) LoadEngine()
    {
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.FlattenHierarchy;
        var names = new HashSet<string>(StringComparer.Ordinal);
        var members = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        foreach (var type in ApiReference.Assemblies.SelectMany(a => a.GetExportedTypes()))
        {
            string typeName = Bare(type.Name);
            names.Add(typeName);
            if (!members.TryGetValue(typeName, out var own)) members[typeName] = own = new HashSet<string>(StringComparer.Ordinal);
            foreach (var member in type.GetMembers(all).Where(IsVisible))
            {
                string name = member is Type nested ? Bare(nested.Name) : member.Name;
                own.Add(name);
                names.Add(name);
                // Parameter names, for named arguments (isCausal: true, weightDecay: 0f).
                if (member is MethodInfo method)
                    foreach (var parameter in method.GetParameters()) names.Add(parameter.Name!);
            }
            foreach (var constructor in type.GetConstructors())
                foreach (var parameter in constructor.GetParameters()) names.Add(parameter.Name!);
        }
        return (names, members);
    }

    private static string Bare(string typeName) => typeName.Contains('`') ? typeName[..typeName.IndexOf('`')] : typeName;

    /// <summary>Public or protected, and a name a program can write (no accessors, operators or constructors).</summary>
    private static bool IsVisible(MemberInfo m) => m switch
    {
        ConstructorInfo => false,
        MethodInfo method => !method.IsSpecialName && (method.IsPublic || method.IsFamily || method.IsFamilyOrAssembly),
        FieldInfo field => !field.IsSpecialName && (field.IsPublic || field.IsFamily || field.IsFamilyOrAssembly),
        PropertyInfo property => property.GetMethod is { } get && (get.IsPublic || get.IsFamily || get.IsFamilyOrAssembly),
        EventInfo e => e.AddMethod is { IsPublic: true },
        Type nested => nested.IsNestedPublic || nested.IsNestedFamily || nested.IsNestedFamORAssem,
        _ => false,
    };
}

/// <summary>
/// Statements a hint must not make: the public benchmark's metric or scores, or how agents fared. Each pattern
/// (case-insensitive) is one way such a statement was written; "attention scores" and the harness's re-measured
/// record times are not matched.
/// </summary>
internal static class HintScoreText
{
    private static readonly Regex[] Patterns =
    [
        new(@"\bFSR\b", RegexOptions.IgnoreCase),
        new(@"speedup\s+recovered|fraction\s+of\s+(the\s+)?speedup", RegexOptions.IgnoreCase),
        new(@"\btask'?s?\s+score\b|\bscor(e|es|ed)\s+(of\s+|about\s+|around\s+|=\s*|:\s*|≈\s*)?~?[0-9]", RegexOptions.IgnoreCase),
        new(@"\bagents?\b[^.\n]*\b(found|managed|rarely|solved|scored|struggled|reproduced|recovered)\b", RegexOptions.IgnoreCase),
        new(@"\b(easiest|hardest|easier|harder)\b[^.\n]*\btasks?\b", RegexOptions.IgnoreCase),
    ];

    /// <summary>Each match as "line: text".</summary>
    public static IReadOnlyList<string> Find(string hint)
    {
        var found = new List<string>();
        var lines = hint.Replace("\r\n", "\n").Split('\n');
        // Sentences may wrap: match over the text with line breaks folded, and report the line each match starts on.
        var folded = string.Join(" ", lines);
        foreach (var pattern in Patterns)
            foreach (Match m in pattern.Matches(folded))
                found.Add($"{LineOf(lines, m.Index)}: {m.Value}");
        return found;
    }

    private static int LineOf(string[] lines, int index)
    {
        int start = 0;
        for (int i = 0; i < lines.Length; i++)
        {
            if (index < start + lines[i].Length + 1) return i + 1;
            start += lines[i].Length + 1;
        }
        return lines.Length;
    }
}
