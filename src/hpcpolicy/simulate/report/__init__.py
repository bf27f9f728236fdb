"""Simulation reports: the data (JSON), a self-contained HTML page with inline SVG plots, atomic writing."""

from .data import report_data
from .files import write_all
from .html import render_html

__all__ = ["render_html", "report_data", "write_all"]
