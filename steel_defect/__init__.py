"""Shared code for the steel-defect DVC pipeline; the stages in `stages/` are thin wrappers."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of stage logs
