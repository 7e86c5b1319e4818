// Verdict fixture: does not compile (a string where an int belongs) -> compile_error.
using Speedrun.Core.Training;

using var ctx = RunContext.FromEnvironment();
int steps = "many";
