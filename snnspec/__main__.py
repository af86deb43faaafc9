"""``python -m snnspec``: the command line."""

from snnspec.cli import main

main()
