"""Reports over the ledger: the chargeback report of a month (:mod:`.chargeback`), its period
(:mod:`.period`) and its CSV, JSON and HTML forms (:mod:`.formats`), shared by the CLI and the API.

Pure: the service layer reads the ledger's sums and hands them in.
"""

from hpcpolicy.reports.chargeback import Chargeback, Node, Placement, Totals, chargeback
from hpcpolicy.reports.period import Period, days, month

__all__ = ["Chargeback", "Node", "Period", "Placement", "Totals", "chargeback", "days", "month"]
