"""Sans-I/O protocol reader, state-table, session and transport tests."""
