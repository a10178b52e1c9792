"""Cutouts in, display pixels out. GUI-free."""
