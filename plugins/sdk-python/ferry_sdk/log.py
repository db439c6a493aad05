"""Logging into the host's log, tagged there with plugin and connection
(and rate limited). Inside a component `print()` and the `logging`
module go there too: see `ferry_sdk.connector`."""

from __future__ import annotations

import logging

from . import _host


def write(level: str, message: str) -> None:
    """One line at `trace`, `debug`, `info`, `warn` or `error`."""
    _host.log(level, message)


def trace(message: str) -> None:
    write("trace", message)


def debug(message: str) -> None:
    write("debug", message)


def info(message: str) -> None:
    write("info", message)


def warn(message: str) -> None:
    write("warn", message)


def error(message: str) -> None:
    write("error", message)


class HostHandler(logging.Handler):
    """A `logging` handler writing to the host's log."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR:
            level = "error"
        elif record.levelno >= logging.WARNING:
            level = "warn"
        elif record.levelno >= logging.INFO:
            level = "info"
        else:
            level = "debug"
        try:
            write(level, self.format(record))
        except Exception:  # a log line never fails a call
            pass


class HostStream:
    """A text stream whose lines go to the host's log (for `sys.stdout`)."""

    def __init__(self, level: str) -> None:
        self.level = level
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            write(self.level, line)
        return len(text)

    def flush(self) -> None:
        if self._pending:
            write(self.level, self._pending)
            self._pending = ""

    def isatty(self) -> bool:
        return False
