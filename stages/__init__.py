"""One script per DVC stage; run as `python -m stages.<name>` from the repository root."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # set before any stage imports TensorFlow
