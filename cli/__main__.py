"""``python -m sf.cli`` — same as the ``sf`` console script."""

from .app import main

main()
