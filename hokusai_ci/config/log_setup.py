"""The tool's log lines: one handler on stderr behind the redaction layer, terse unless DEBUG,
and MLflow's own chatter kept for DEBUG. Set up by the faces; re-applied by the adapter that
imports mlflow, because importing it resets its loggers."""

from __future__ import annotations

import logging
import sys

from hokusai_ci.config.redaction import install_log_redaction
from hokusai_ci.config.validation import escape_bidi


class ShownInOrder(logging.Formatter):
    """A log line with each bidirectional control written as `\\uXXXX`: a value a log quotes
    cannot make the reader see its text in another order than the one stored."""

    def format(self, record: logging.LogRecord) -> str:
        return escape_bidi(super().format(record))


def configure_logging(level: str) -> None:
    install_log_redaction()
    logger = logging.getLogger("hokusai_ci")
    logger.handlers.clear()
    handler = logging.StreamHandler(sys.stderr)
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s" if level == "DEBUG" else "hokusai: %(message)s"
    handler.setFormatter(ShownInOrder(fmt))
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    quiet_mlflow()


def quiet_mlflow() -> None:
    """MLflow's own INFO lines (store creation, "Waiting up to 300 seconds for model version to
    finish creation") are noise in CI logs; keep them for DEBUG. Called again once mlflow is
    imported, because importing it resets its loggers to INFO."""
    debug = logging.getLogger("hokusai_ci").getEffectiveLevel() <= logging.DEBUG
    logging.getLogger("mlflow").setLevel(logging.DEBUG if debug else logging.WARNING)
