"""``python -m cartpath``: the same command line as the ``cartpath`` script."""
from cartpath.cli import main

if __name__ == "__main__":
    main(prog_name="cartpath")
