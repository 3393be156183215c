"""Tools for developing the box, not run on the capture path: the pipeline bench and the
preset contact sheet."""
