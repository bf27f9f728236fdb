"""Metrics (Prometheus) and structured logs: what operators watch, kept out of the engine and the ledger."""
