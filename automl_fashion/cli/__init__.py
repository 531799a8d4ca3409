"""The ``automl-fashion`` command: a thin layer that parses, calls the library, prints.

Each sub-command is one function ``cmd_<name>(args) -> int`` in the module of its area
(``data``, ``search``, ``study``, ``model``); ``parser`` declares them all. The work lives
in the library.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from automl_fashion.cli._common import Handler
from automl_fashion.cli.parser import build_parser
from automl_fashion.errors import AutoMLFashionError


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except AutoMLFashionError as exc:
        from automl_fashion.model import printable  # the last guard for text from files

        print(f"automl-fashion: error: {printable(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("automl-fashion: interrupted", file=sys.stderr)
        return 130


__all__ = ["build_parser", "main"]
