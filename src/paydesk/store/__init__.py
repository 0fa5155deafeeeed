"""Persistence: SQLAlchemy 2.0 models (a module per aggregate), engine setup, search queries."""
