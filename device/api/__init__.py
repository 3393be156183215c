"""The operator's web page and the REST API (FastAPI), thin over `device.service.CutboxService`."""

from device.api.app import create_app

__all__ = ["create_app"]
