// Verdict fixture: opens the results store, which belongs to the harness, not to the engine a program
// compiles against -> compile_error, with the error that says the harness is out of a program's reach.
using Speedrun.Benchmark.Store;
using Speedrun.Core.Training;

using var ctx = RunContext.FromEnvironment();
using var store = ResultsStore.Open("results.db");
