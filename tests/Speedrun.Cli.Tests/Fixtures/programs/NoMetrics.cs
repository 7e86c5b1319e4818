// Verdict fixture: prints nothing, writes no results.json and exits 0 -> no_metrics.
Environment.ExitCode = 0;
