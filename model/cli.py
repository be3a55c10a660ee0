"""What the commands share: a mistake said in one line, and --help that gives each option's default."""
from __future__ import annotations

import argparse
import copy
import os


class HelpWithDefaults(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's default in --help, the options without words of their own too; none where the
    default is nothing (None, off)."""

    def _get_help_string(self, action):
        if _no_default(action) or "%(default)" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)

    def _format_action(self, action):
        if action.help is None and action.option_strings and not _no_default(action):
            action = copy.copy(action)
            action.help = "default: %(default)s"
        return super()._format_action(action)


def _no_default(action) -> bool:
    """Whether there is no default worth saying (identity, not ==: a default of 0 is said)."""
    return action.default is None or action.default is False or action.default is argparse.SUPPRESS


def flag(name: str) -> str:
    """An option's flag from its dest."""
    return "--" + name.replace("_", "-")


class Parser(argparse.ArgumentParser):
    """argparse for our commands: a mistake in the command line is one line on stderr (exit 2), the
    usage being --help's; --help gives each option's default."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpWithDefaults)
        super().__init__(*args, **kwargs)

    def parse_args(self, args=None, namespace=None):
        if "HMLSTM_LOOPS" in os.environ:        # the loops (and torch) imported only where it is set
            from model.loops import environment_error
            if wrong := environment_error():
                self.exit(2, f"{self.prog}: error: {wrong}\n")
        return super().parse_args(args, namespace)

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (--help lists the options)\n")

    def at_least(self, args, least, *names: str) -> None:
        """A one-line error for the first of these options (dests) below `least`."""
        for name in names:
            if getattr(args, name) < least:
                self.error(f"{flag(name)} must be at least {least}")
