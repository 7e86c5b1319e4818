using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;

namespace Speedrun.Cli.Support;

/// <summary>A mistake the user can fix; the message says what was wrong and what to do.</summary>
internal sealed class UserError(string message) : Exception(message);

/// <summary>Runs a command's body and turns the errors a user can cause (missing files, bad fields, bad
/// arguments, a store it cannot use) into one line on stderr and exit code 2, instead of a stack trace.</summary>
internal static partial class UserErrors
{
    public const int ExitCode = 2;

    public static int Guard(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (e is UserError or FileNotFoundException or DirectoryNotFoundException or InvalidDataException
                                      or IOException or ArgumentException or FormatException or InvalidOperationException
                                      or SqliteException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"error: {Clean(e)}");
            return ExitCode;
        }
    }

    [GeneratedRegex(@"\s*\(Parameter '[^']*'\)(\r?\n.*)?$", RegexOptions.Singleline)]
    private static partial Regex ParameterSuffix();

    static string Clean(Exception e) => e is ArgumentException ? ParameterSuffix().Replace(e.Message, "") : e.Message;
}
