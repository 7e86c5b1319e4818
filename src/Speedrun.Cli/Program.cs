using System.CommandLine;
using Speedrun.Cli.Commands;

// The `speedrun` command: one subcommand per file in Commands/.
var root = new RootCommand("Speedrun: reproduce and time NanoGPT speedrun records with our own GPU kernels.")
{
    TrainCommand.Create(),
    RecordsCommand.Create(),
    TaskCommand.Create(),
    RunCommand.Create(),
    CalibrateCommand.Create(),
    TargetCommand.Create(),
    StoreCommand.Create(),
    ScoreCommand.Create(),
    CompareCommand.Create(),
    ReportCommand.Create(),
    AgentCommand.Create(),
    AgentTestServerCommand.Create(),
    DataCommand.Create(),
    DoctorCommand.Create(),
    ExecCommand.Create(),
    ExecEvalCommand.Create(),
};
// A mistake the user can fix (a malformed track or record file, a missing file, a bad argument) is reported
// in one line naming the file or field, without a stack trace; anything else is a bug and keeps its trace.
try
{
    return root.Parse(args).Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (Exception e) when (e is InvalidDataException or FileNotFoundException or DirectoryNotFoundException or ArgumentException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}
