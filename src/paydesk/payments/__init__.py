"""The payment platform port: a sandbox ledger and the platform HTTP API."""
