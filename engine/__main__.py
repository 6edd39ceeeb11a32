"""``python -m engine start …`` is ``agentos start …``."""

from engine.cli import main

if __name__ == "__main__":
    main()
