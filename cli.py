"""Run the snnspec command line from a checkout: ``python cli.py validate configs/...``."""

from snnspec.cli import main

if __name__ == "__main__":
    main()
