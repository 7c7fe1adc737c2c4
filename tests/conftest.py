import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tfbin  # noqa: E402,F401  (routes tf.keras to Keras 2 before any test imports TensorFlow)
