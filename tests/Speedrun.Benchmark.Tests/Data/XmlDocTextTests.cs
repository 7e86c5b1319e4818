using System.Xml.Linq;
using Speedrun.Benchmark.Data;
using Speedrun.Tests.Shared;

namespace Speedrun.Benchmark.Tests.Data;

public class XmlDocTextTests
{
    [Fact]
    public void FlattensTagsIntoPlainTextInAFixedSectionOrder()
    {
        var member = XElement.Parse("""
            <member name="M:System.Collections.BitArray.#ctor(System.Byte[])">
              <remarks>The first byte holds bits 0 to 7.<para>See   <see href="https://example.org">the docs</see>.</para></remarks>
              <summary>Initializes a new instance of the <see cref="T:System.Collections.BitArray" /> class
                that contains bit values copied from <paramref name="bytes" />.</summary>
              <param name="bytes">An array of bytes.</param>
              <exception cref="T:System.ArgumentNullException"><paramref name="bytes" /> is <see langword="null" />.</exception>
              <exception cref="T:System.ArgumentException">Longer than <see cref="F:System.Int32.MaxValue" />.</exception>
            </member>
            """);
        Assert.Equal(
            "Initializes a new instance of the BitArray class that contains bit values copied from bytes.\n" +
            "bytes: An array of bytes.\n" +
            "ArgumentNullException: bytes is null.\n" +
            "ArgumentException: Longer than Int32.MaxValue.\n" +
            "The first byte holds bits 0 to 7.\n" +
            "See the docs.",
            XmlDocText.Flatten(member));
    }

    [Fact]
    public void ListsAndCodeBecomeLines()
    {
        var member = XElement.Parse("""
            <member name="T:X"><summary>Kinds:<list type="bullet"><item><term>A</term><description>first</description></item>
            <item><term>B</term><description>second</description></item></list>Use <c>x  +  1</c>.<br/>Done.</summary>
            <returns>A <typeparamref name="T"/> value.</returns><typeparam name="T">The type.</typeparam></member>
            """);
        Assert.Equal("Kinds:\nA: first\nB: second\nUse x + 1.\nDone.\nT: The type.\nReturns: A T value.", XmlDocText.Flatten(member));
    }

    [Fact]
    public void EmptyMemberHasNoText() => Assert.Equal("", XmlDocText.Flatten(XElement.Parse("<member name='T:X'><summary>  </summary></member>")));

    [Theory]
    [InlineData("T:System.Collections.Generic.List`1", "List")]
    [InlineData("M:System.String.#ctor(System.Char[])", "String")]
    [InlineData("F:System.Int32.MaxValue", "Int32.MaxValue")]
    [InlineData("M:System.Linq.Enumerable.Select``2(System.Collections.Generic.IEnumerable{``0},System.Func{``0,``1})", "Enumerable.Select")]
    [InlineData("P:System.Array.Length", "Array.Length")]
    [InlineData("System.Globalization.CultureInfo", "CultureInfo")]
    public void ShortNames(string id, string expected) => Assert.Equal(expected, XmlDocText.ShortName(id));

    [Fact]
    public void ReadsMembersAndIgnoresNonDocumentationXml()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("A.xml"), """
            <?xml version="1.0" encoding="utf-8"?>
            <doc><assembly><name>A</name></assembly><members>
              <member name="T:A.One"><summary>One.</summary></member>
              <member name="T:A.Empty"></member>
              <member name="T:A.Two"><summary>Two.</summary></member>
            </members></doc>
            """);
        File.WriteAllText(dir.File("FrameworkList.xml"), "<FileList><File Type='Managed' /></FileList>");
        Assert.Equal([new XmlDocMember("T:A.One", "One."), new XmlDocMember("T:A.Two", "Two.")], XmlDocText.ReadMembers(dir.File("A.xml")));
        Assert.Empty(XmlDocText.ReadMembers(dir.File("FrameworkList.xml")));
    }

    [Fact]
    public void MalformedXmlNamesTheFile()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("Broken.xml"), "<doc><members><member name='x'>");
        var e = Assert.Throws<InvalidDataException>(() => XmlDocText.ReadMembers(dir.File("Broken.xml")).ToList());
        Assert.Contains("Broken.xml", e.Message);
    }
}
