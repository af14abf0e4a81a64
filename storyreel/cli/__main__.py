"""``python -m storyreel.cli``: the same as the ``storyreel`` command."""

from . import main

if __name__ == "__main__":  # pragma: no cover
    main()
