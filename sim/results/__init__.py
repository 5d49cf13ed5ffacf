"""What a run leaves behind: `RunData` as the recorder samples it (``recorder``), the run
folder on disk, written and loaded (``folder``), and its plots (``plots``)."""
