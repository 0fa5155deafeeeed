"""Use cases. The only code that writes; each function owns its transaction."""
