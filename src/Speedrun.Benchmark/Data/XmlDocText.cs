using System.Text;
using System.Xml;
using System.Xml.Linq;

namespace Speedrun.Benchmark.Data;

/// <summary>One documented member of an XML documentation file: its ID (e.g. <c>M:System.String.Trim</c>)
/// and its documentation as plain text.</summary>
public sealed record XmlDocMember(string Name, string Text);

/// <summary>
/// Turns C# XML documentation files (the <c>&lt;doc&gt;&lt;members&gt;&lt;member name=…&gt;</c> files shipped
/// next to reference assemblies) into plain text: one member's summary, value, type parameters,
/// parameters, return value, exceptions and remarks become one document. Inline tags become their
/// text (<c>&lt;see cref="T:System.String"/&gt;</c> → "String", <c>&lt;paramref name="x"/&gt;</c> → "x");
/// paragraphs and list items become lines; whitespace runs inside a line become one space.
/// </summary>
public static class XmlDocText
{
    /// <summary>The members of <paramref name="path"/> that have any text, in file order. A file whose root
    /// is not <c>&lt;doc&gt;</c> is not documentation and yields nothing.</summary>
    public static IEnumerable<XmlDocMember> ReadMembers(string path)
    {
        XDocument doc;
        try
        {
            using var reader = XmlReader.Create(path, new XmlReaderSettings { DtdProcessing = DtdProcessing.Prohibit, XmlResolver = null });
            doc = XDocument.Load(reader);
        }
        catch (XmlException e)
        {
            throw new InvalidDataException($"{path}: not well-formed XML ({e.Message}); the SDK installation may be damaged.", e);
        }
        if (doc.Root?.Name.LocalName != "doc") yield break;
        var members = doc.Root.Element("members");
        if (members is null) yield break;
        foreach (var member in members.Elements("member"))
        {
            string? name = (string?)member.Attribute("name");
            if (string.IsNullOrEmpty(name)) continue;
            string text = Flatten(member);
            if (text.Length > 0) yield return new XmlDocMember(name, text);
        }
    }

    /// <summary>The plain text of one <c>&lt;member&gt;</c> element; empty when it documents nothing.</summary>
    public static string Flatten(XElement member)
    {
        var lines = new List<string>();
        // A fixed section order, so documents read alike whatever order the file lists the tags in.
        AddSections(lines, member, "summary", null);
        AddSections(lines, member, "value", null);
        AddSections(lines, member, "typeparam", e => (string?)e.Attribute("name"));
        AddSections(lines, member, "param", e => (string?)e.Attribute("name"));
        AddSections(lines, member, "returns", _ => "Returns");
        AddSections(lines, member, "exception", e => ShortName((string?)e.Attribute("cref")));
        AddSections(lines, member, "remarks", null);
        return string.Join("\n", lines);
    }

    static void AddSections(List<string> lines, XElement member, string tag, Func<XElement, string?>? label)
    {
        foreach (var section in member.Elements(tag))
        {
            var sb = new StringBuilder();
            AppendNodes(sb, section.Nodes());
            var paragraphs = Normalize(sb.ToString());
            if (paragraphs.Count == 0) continue;
            string? prefix = label?.Invoke(section);
            if (!string.IsNullOrEmpty(prefix)) paragraphs[0] = $"{prefix}: {paragraphs[0]}";
            lines.AddRange(paragraphs);
        }
    }

    // Marks a paragraph break in the builder; newlines in the XML text are ordinary whitespace.
    const char Break = '\u2029';

    static void AppendNodes(StringBuilder sb, IEnumerable<XNode> nodes)
    {
        foreach (var node in nodes)
        {
            switch (node)
            {
                case XText text: // includes CDATA
                    sb.Append(text.Value);
                    break;
                case XElement e:
                    AppendElement(sb, e);
                    break;
            }
        }
    }

    static void AppendElement(StringBuilder sb, XElement e)
    {
        switch (e.Name.LocalName)
        {
            case "see" or "seealso" or "xref":
                if (e.Nodes().Any()) AppendNodes(sb, e.Nodes());
                else sb.Append((string?)e.Attribute("langword") ?? ShortName((string?)e.Attribute("cref") ?? (string?)e.Attribute("uid"))
                               ?? (string?)e.Attribute("href") ?? "");
                break;
            case "paramref" or "typeparamref":
                sb.Append((string?)e.Attribute("name") ?? "");
                break;
            case "para" or "p" or "code" or "list" or "item" or "listheader" or "li" or "ul" or "ol" or "example":
                sb.Append(Break);
                AppendNodes(sb, e.Nodes());
                sb.Append(Break);
                break;
            case "br":
                sb.Append(Break);
                break;
            case "term":
                AppendNodes(sb, e.Nodes());
                sb.Append(": ");
                break;
            default: // c, b, i, em, strong, a, sup, sub, description, value, …: their text
                AppendNodes(sb, e.Nodes());
                break;
        }
    }

    static List<string> Normalize(string raw)
    {
        var result = new List<string>();
        foreach (var paragraph in raw.Split(Break))
        {
            var line = string.Join(' ', paragraph.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
            if (line.Length > 0) result.Add(line);
        }
        return result;
    }

    /// <summary>
    /// A readable name for a documentation ID: <c>T:System.Collections.Generic.List`1</c> → "List",
    /// <c>F:System.Int32.MaxValue</c> → "Int32.MaxValue", <c>M:System.String.#ctor(System.Char[])</c> → "String".
    /// </summary>
    public static string? ShortName(string? id)
    {
        if (string.IsNullOrEmpty(id)) return id;
        string kind = id.Length > 2 && id[1] == ':' ? id[..1] : "";
        string name = kind.Length > 0 ? id[2..] : id;
        int paren = name.IndexOf('(');
        if (paren >= 0) name = name[..paren];
        var parts = name.Split('.').Select(StripArity).Where(p => p.Length > 0).ToArray();
        if (parts.Length == 0) return name;
        if (kind is "T" or "N" or "" || parts.Length == 1) return parts[^1];
        if (parts[^1] == "#ctor" || parts[^1] == "#cctor") return parts[^2];
        return $"{parts[^2]}.{parts[^1]}";
    }

    static string StripArity(string part)
    {
        int tick = part.IndexOf('`');
        return tick >= 0 ? part[..tick] : part;
    }
}
