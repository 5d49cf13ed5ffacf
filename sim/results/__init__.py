"""What a run leaves behind: `RunData` as the recorder samples it (``recorder``), the run
folder on disk, written and loaded (``folder``), its plots (``plots``) and its HTML report
(``report``)."""
