"""The torch code, two algorithms that never import each other: `nst` (style transfer) and `waves` (forecasting).

`progress.py` is the progress protocol both report through; `runtime.py` what a process loads before its first job.
"""
