"""Tools over the audit log that need more than the ledger: explaining a stored decision again."""
