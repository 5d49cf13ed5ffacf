"""sync_core — the sans-IO Canvas-to-Pinterest audience sync engine."""
