"""`python -m app.cli`: the same command as the `stylewave` script."""

from app.cli import main

main()
