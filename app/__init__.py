"""The API process and what it shares with the workers: routes, schemas, the job store, settings, the CLI (no torch)."""
