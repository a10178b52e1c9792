"""Labelling projects: the SQLite project store, class schemes, import and export. GUI-free."""
