"""Accuracy and speed of the whole plate pipeline on labelled image sets."""
