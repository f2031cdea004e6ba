"""The report: an HTML page rendered from results alone (``render``), its figures, and the
plots drawn from each check's details. Nothing here runs a check."""

from verify.report.render import render, write_report

__all__ = ["render", "write_report"]
