using System.CommandLine;
using Speedrun.Cli.Support;
using Speedrun.Benchmark.Catalog;
using Speedrun.Benchmark.Store;
using Speedrun.Benchmark.Tasks;

namespace Speedrun.Cli.Commands;

/// <summary>
/// `speedrun run DIR [DIR ...] [--track T] [--seeds K] [--first-seed S] [--timeout MIN] [--agent LABEL ...]
/// [--with-references] [--store PATH] [--device D] [--runs DIR]`: time a task workspace's program (an agent run of
/// task N with the workspace's hints) or a record folder's (a calibration of that record), once per seed, storing
/// every run. Several workspaces of one task are timed in turn within each seed, so that they share the same
/// session (and, with --with-references, the same two reference runs).
/// </summary>
internal static class RunCommand
{
    public static Command Create()
    {
        var dir = new Argument<string[]>("DIR")
        {
            Description = "A task workspace (made by `speedrun task`, has task.json) or a record folder (has record.json); " +
                          "or several workspaces of one task, timed in turn in one session",
            Arity = ArgumentArity.OneOrMore,
        };
        var options = new RunOptions();
        var agent = new Option<string[]>("--agent")
        {
            Description = "A label for who wrote the program (stored with agent runs); with several workspaces, one per workspace, in order",
        };
        var withReferences = new Option<bool>("--with-references")
        {
            Description = "Time records N and N+1 in the same session, interleaved with the agent's runs; score then prefers these references",
        };
        var command = new Command("run", "Compile and time a workspace's or record's program, once per seed; store every run.")
        {
            dir, agent, withReferences,
        };
        options.AddTo(command);
        command.SetAction((parse, cancel) =>
            Task.FromResult(UserErrors.Guard(() =>
                Run(parse.GetValue(dir)!, parse.GetValue(agent) ?? [], parse.GetValue(withReferences), options.Read(parse), cancel))));
        return command;
    }

    static int Run(string[] dirs, string[] agents, bool withReferences, RunOptions.Values options, CancellationToken cancel)
    {
        foreach (var dir in dirs)
            if (!Directory.Exists(dir))
                throw new UserError($"{dir}: no such folder; give a task workspace (`speedrun task N --out DIR`) or a record folder.");
        if (agents.Length > 0 && agents.Length != dirs.Length)
            throw new UserError($"--agent is given {agents.Length} time(s) for {dirs.Length} folder(s); give one label per folder, in order " +
                                "(--agent A --agent B ...), or none.");
        // What each DIR is gets checked before the data or the store is touched.
        var catalog = BenchmarkCatalog.LoadDefault();
        var programs = dirs.Select((dir, i) => Describe(catalog, dir, agents.Length == 0 ? null : agents[i])).ToList();
        if (dirs.Length > 1)
        {
            int record = programs.FindIndex(p => p.Manifest is null);
            if (record >= 0)
                throw new UserError($"{dirs[record]} is a record folder; several folders in one run must all be task workspaces (of one task).");
            var tasks = programs.Select(p => p.Manifest!.Task).Distinct().ToList();
            if (tasks.Count > 1)
                throw new UserError($"the workspaces are of tasks {string.Join(", ", tasks)}; several workspaces in one run must be of one task.");
        }
        if (withReferences && programs[0].Manifest is null)
            throw new UserError($"--with-references times a task's two records beside an agent's runs, but {dirs[0]} is a record folder; give a task workspace.");
        using var session = BenchmarkSession.Open(options.Session, defaultTrack: "tiny");
        programs = programs.Select((p, i) => p.Manifest is null ? p : p with { Label = session.AgentLabel(p.Manifest, dirs[i], p.Label.Agent) }).ToList();
        Console.Error.WriteLine($"speedrun run: {string.Join(", ", programs.Select(p => p.Program))} on track '{session.Track.Name}', " +
                                $"seeds {options.FirstSeed}..{options.FirstSeed + options.Seeds - 1}, store {session.StorePath}");
        bool allOk = true;
        var task = programs[0].Label.Record;
        var references = withReferences
            ? new[] { task, task + 1 }.Select(n => catalog.Records.FirstOrDefault(r => r.Number == n && r.IsRunnable)
                ?? throw new UserError($"--with-references needs record {n}'s program, and the catalog has none."))
                .Select(r => new Described(r.TrainPath, RunLabel.CalibrationOf(r.Number), r.FolderName, null)).ToList()
            : [];
        for (int seed = options.FirstSeed; seed < options.FirstSeed + options.Seeds; seed++)
        {
            // With references: N, the programs, N+1 on even seeds and the whole order reversed on odd ones, so a drift in
            // the machine's state within a seed falls on both records, and on every program, alike.
            var order = new List<Described>();
            if (references.Count > 0) order.Add(references[0]);
            order.AddRange(programs);
            if (references.Count > 0) order.Add(references[1]);
            if (references.Count > 0 && seed % 2 == 1) order.Reverse();
            foreach (var run in order.Select(p => session.Run(p.Program, p.Label, seed, p.FolderLabel, cancel)))
            {
                if (run is null) return 130;
                allOk &= run.Verdict == "ok";
            }
        }
        return allOk ? 0 : 1;
    }

    /// <summary>A program to time and how to label it: a workspace's (Manifest set) or a record's.</summary>
    sealed record Described(string Program, RunLabel Label, string FolderLabel, TaskManifest? Manifest);

    /// <summary>The program to run and how to label it: an agent run for a workspace (whose label the store then
    /// confirms, see <see cref="BenchmarkSession.AgentLabel"/>), a calibration for a record.</summary>
    static Described Describe(BenchmarkCatalog catalog, string dir, string? agent)
    {
        if (File.Exists(Path.Combine(dir, TaskManifest.FileName)))
        {
            var manifest = TaskManifest.Load(dir);
            var program = Path.Combine(dir, manifest.TrainFile);
            if (!File.Exists(program))
                throw new UserError($"{program}: the workspace's training program is missing; restore it (task.json names '{manifest.TrainFile}').");
            var task = catalog.Tasks.FirstOrDefault(t => t.Number == manifest.Task);
            if (task is null || task.Start.Slug != manifest.StartRecord.Slug)
                Console.Error.WriteLine($"warning: {Path.Combine(dir, TaskManifest.FileName)} is task {manifest.Task} from record " +
                                        $"'{manifest.StartRecord.Slug}', but the catalog at {catalog.Root} " +
                                        (task is null ? $"has no task {manifest.Task}" : $"starts task {manifest.Task} from '{task.Start.Slug}'") +
                                        "; scores compare it with that catalog's calibrations.");
            return new Described(program, RunLabel.AgentRun(manifest.Task, manifest.HintSelection, agent), $"task{manifest.Task:D2}", manifest);
        }
        if (File.Exists(Path.Combine(dir, RecordInfo.RecordFileName)))
        {
            var record = RecordOf(catalog, dir);
            if (agent is not null)
                throw new UserError($"--agent labels agent runs, but {dir} is a record folder (its runs are calibrations); drop --agent or give a task workspace.");
            if (!File.Exists(record.TrainPath))
                throw new UserError($"{record.TrainPath}: record {record.Number} has no training program yet; only runnable records can be timed (see `speedrun records`).");
            return new Described(record.TrainPath, RunLabel.CalibrationOf(record.Number), record.FolderName, null);
        }
        throw new UserError($"{dir} is neither a task workspace (no {TaskManifest.FileName}) nor a record folder (no {RecordInfo.RecordFileName}). " +
                            "Make a workspace with `speedrun task N --out DIR`, or use `speedrun train` for a loose program.");
    }

    /// <summary>Only the catalog's own record folders can be calibrated: a copy elsewhere may have been edited.</summary>
    static RecordInfo RecordOf(BenchmarkCatalog catalog, string dir)
    {
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir));
        return catalog.Records.FirstOrDefault(r => Path.TrimEndingDirectorySeparator(Path.GetFullPath(r.Directory)) == full)
            ?? throw new UserError($"{full} has a {RecordInfo.RecordFileName} but is not one of the records in {catalog.RecordsDirectory}; " +
                                   "calibrations run the catalog's own programs only. To time an edited program, put it in a task " +
                                   $"workspace (`speedrun task N --out DIR`), or point {BenchmarkCatalog.HomeVariable} at the repository it belongs to.");
    }
}
