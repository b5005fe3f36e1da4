"""Shared code for the steel-defect DVC pipeline; the stages in `stages/` are thin wrappers."""
