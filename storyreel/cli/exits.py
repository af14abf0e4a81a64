"""How a command ends: the exit codes, ``CommandFailed`` (one line for stderr and the code
to exit with), and the one place that prints that line and exits.

Exit codes: 2 for bad input or configuration, 1 for a failed or cancelled job, 130 for
Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from ..errors import ConfigError, InputError, NotAvailableOffline, StoryReelError
from ..messages import message_for

EXIT_INPUT, EXIT_FAILED, EXIT_INTERRUPTED = 2, 1, 130


class CommandFailed(Exception):
    """A command cannot go on: ``text`` is the line the user sees, ``exit_code`` the
    process's exit status."""

    def __init__(self, text: str, code: int) -> None:
        super().__init__(text)
        self.text, self.exit_code = text, code


def failure_for(error: BaseException) -> CommandFailed:
    """``error`` as the command's last line: exit 2 for bad input, settings or a stage that
    needs the network, 1 for anything else."""
    code = EXIT_INPUT if isinstance(error, (InputError, ConfigError, NotAvailableOffline)) else EXIT_FAILED
    return CommandFailed(message_for(error, "en"), code)


def exit_with(failure: CommandFailed) -> NoReturn:
    """Print ``failure`` as one line on stderr and exit with its code."""
    click.echo(f"storyreel: {failure.text}", err=True)
    sys.exit(failure.exit_code)


def one_line_errors(fn):
    """Wrap a command so that ``CommandFailed`` and ``StoryReelError`` end it as one line on
    stderr: exit 2 for bad input or settings, 1 for anything else."""
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except CommandFailed as failure:
            exit_with(failure)
        except StoryReelError as exc:
            click.echo(f"storyreel: {message_for(exc)}", err=True)
            sys.exit(EXIT_INPUT if isinstance(exc, (ConfigError, InputError)) else EXIT_FAILED)

    # click names the command and writes its help from these
    wrapper.__name__, wrapper.__doc__ = fn.__name__, fn.__doc__
    return wrapper
