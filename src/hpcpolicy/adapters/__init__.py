"""Adapters that turn foreign formats (workload traces, scheduler logs) into the service's own types."""
