// Verdict fixture: prints nothing, saves no model and exits 0 -> no_metrics.
Environment.ExitCode = 0;
