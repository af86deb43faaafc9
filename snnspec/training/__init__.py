"""Training: the loop, data, checkpoints, run folders, plots."""
