"""Unlabelled cutouts made useful: embeddings, 2-D maps, clusters and look-alike search (GUI-free)."""
