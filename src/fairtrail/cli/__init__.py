"""The `fairtrail` command line. Front end only: all logic lives in `fairtrail.Trail`."""

from fairtrail.cli.app import app, main

__all__ = ["app", "main"]
