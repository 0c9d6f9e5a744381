"""pytest plugin for replaytest (placeholder until the plugin lands)."""
