"""What every command shares: the console it prints to, and the handler type."""

from __future__ import annotations

import argparse
from collections.abc import Callable

Handler = Callable[[argparse.Namespace], int]


def make_console(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from rich.console import Console

    return Console(quiet=getattr(args, "quiet", False))
