"""The HTTP API (FastAPI): thin routes over the service layer, one module per resource."""

from hpcpolicy.api.app import create_app

__all__ = ["create_app"]
