"""Pure rules: no file I/O (statuses, parameters, sweeps, names, patterns, rows)."""
