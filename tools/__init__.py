"""Developer tools that are not part of the product: run with ``python -m tools.<name>``."""
