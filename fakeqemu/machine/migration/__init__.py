"""Migration: the run-state side of migrate and -incoming (state.py) and the VM state a stream carries (vmstate.py)."""
