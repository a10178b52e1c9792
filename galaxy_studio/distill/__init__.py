"""Dataset distillation: condense a labelled set into a few synthetic images per class.

The images are learned so that a network trained on them follows the same parameter trajectory
as one trained on the real data (trajectory matching, MTT, and its self-adaptive schedule, STM).
GUI-free: the CLI, the tests and the Distill panel all drive the same functions.
"""
