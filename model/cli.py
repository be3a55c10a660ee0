"""What the commands share: --help that gives each option's default."""
from __future__ import annotations

import argparse
import copy


class HelpWithDefaults(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's default in --help, the options without words of their own too; none where the
    default is nothing (None, off)."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or "%(default)" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)

    def _format_action(self, action):
        if action.help is None and action.option_strings and not (
                action.default is None or action.default is False or action.default is argparse.SUPPRESS):
            action = copy.copy(action)
            action.help = "default: %(default)s"
        return super()._format_action(action)
