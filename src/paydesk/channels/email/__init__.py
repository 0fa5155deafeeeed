"""Email channel: pure parser (parse.py), composer (compose.py) and byte transports (imap.py,
receiver.py). No database access here; the services layer wires them to the intake pipeline."""
