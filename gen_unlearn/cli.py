"""`gen-unlearn <command>`: a thin command line over the Python API."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

logger = logging.getLogger("gen_unlearn.cli")

# The commands and their one-line help: `gen-unlearn --help` lists them without importing torch (a second).
COMMANDS = {
    "sample": "sample images of one class from a pipeline",
    "erase": "make a pipeline forget a class; writes a new pipeline directory",
    "evaluate": "forgetting accuracy, remaining-class accuracy and FID",
    "grid": "a row per class, pipelines side by side on the same seeds",
    "bench": "erase with several methods and evaluate at several step counts",
    "audit": "look for what an erased class left behind: leaks, relearning, memorisation",
    "report": "one self-contained HTML page of erase, evaluate, audit and bench outputs",
    "classify": "unlearn a classifier (class-wise or a random subset) and compare it with retraining",
}


def user_errors() -> tuple[type[BaseException], ...]:
    """Errors that are the user's to fix: printed as one line, never as a traceback."""
    from .data import DatasetNotFoundError
    from .hub import PipelineNotFoundError

    return (ValueError, FileNotFoundError, NotADirectoryError, PipelineNotFoundError, DatasetNotFoundError)


def top_parser() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    parser = argparse.ArgumentParser(
        prog="gen-unlearn", description="Make a class-conditional diffusion model forget a class."
    )
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument("-v", "--verbose", action="store_true", help="also log details (debug messages)")
    loudness.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")
    return parser, parser.add_subparsers(dest="command", required=True)


def command_list_parser() -> argparse.ArgumentParser:
    """The commands without their options: what `gen-unlearn --help` (or no command) needs, torch-free."""
    parser, commands = top_parser()
    for name, text in COMMANDS.items():
        commands.add_parser(name, help=text)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """Every command with its options (this imports the library)."""
    from .classification.cli import add_classify_command
    from .cli_erase import add_erase_commands
    from .cli_evaluation import add_evaluation_commands

    parser, commands = top_parser()
    add_erase_commands(commands, COMMANDS)  # sample, erase
    add_evaluation_commands(commands, COMMANDS)  # evaluate, grid, bench
    add_classify_command(commands, COMMANDS)
    return parser


class StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is when a message is logged (test runners swap it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def configure_logging(verbose: bool = False, quiet: bool = False) -> None:
    """The `gen_unlearn` logger to stderr: info by default, debug with --verbose, warnings only with --quiet.
    Progress bars are tqdm's and stay as they are."""
    root = logging.getLogger("gen_unlearn")
    root.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
    if not any(isinstance(h, StderrHandler) for h in root.handlers):
        handler = StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(handler)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    named = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser() if named in COMMANDS else command_list_parser()
    args = parser.parse_args(argv)  # the command list exits here: help, or a missing or unknown command
    configure_logging(args.verbose, args.quiet)
    run: Callable[[argparse.Namespace], None] = args.run
    import torch

    try:
        run(args)
    except user_errors() as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"gen-unlearn {args.command}: error: {message}", file=sys.stderr)
        return 2
    except torch.OutOfMemoryError:
        print(
            f"gen-unlearn {args.command}: error: out of memory on the device: use a smaller --batch-size "
            "(or --sampling-batch-size), or --sampling-dtype bf16 / --mixed-precision bf16",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print(f"gen-unlearn {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
