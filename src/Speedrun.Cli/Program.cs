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
    ScoreCommand.Create(),
    ReportCommand.Create(),
    DataCommand.Create(),
    DoctorCommand.Create(),
    ExecCommand.Create(),
};
return root.Parse(args).Invoke();
