"""paydesk — the customer-service desk of the TOPAY payment platform."""

__version__ = "0.1.0"
