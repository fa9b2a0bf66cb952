"""`python -m client`: the same as the `mini-pipeline` command."""

from .cli import main

main()
