"""Classifiers: networks, labelled data and its preparation, training, metrics, checkpoints. GUI-free."""
