"""Training, distillation, int8 quantisation and model-card tooling for the cutbox student.

Only `booth` (numpy + OpenCV) is safe to import without TensorFlow; the rest needs the
`train` extra.
"""
