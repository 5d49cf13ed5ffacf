"""What a run leaves behind: `RunData` as the recorder samples it (``recorder``), the run
folder on disk, written and loaded (``folder``), its plots (``plots``), its HTML report
(``report``), and two run folders side by side with a verdict per line (``compare``, for
``pinsim compare``)."""
