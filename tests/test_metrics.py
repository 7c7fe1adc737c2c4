import numpy as np
import tensorflow as tf

import tfbin
from tfbin.metrics import IGNORE_LABEL, MeanIoU


def numpy_mean_iou(labels, logits, num_classes):
    predicted = logits.argmax(-1)
    keep = labels != IGNORE_LABEL
    ious = []
    for c in range(num_classes):
        truth, guess = (labels == c) & keep, (predicted == c) & keep
        union = np.sum(truth | guess)
        if union:
            ious.append(np.sum(truth & guess) / union)
    return np.mean(ious)


def test_mean_iou_matches_a_direct_count_and_ignores_void_pixels():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, (3, 8, 8))
    labels[:, :2] = IGNORE_LABEL
    logits = rng.standard_normal((3, 8, 8, 5)).astype(np.float32)
    metric = MeanIoU(num_classes=5)
    metric.update_state(labels[:2], logits[:2])
    metric.update_state(labels[2:], logits[2:])
    np.testing.assert_allclose(float(metric.result()), numpy_mean_iou(labels, logits, 5), rtol=1e-6)
    # Void pixels change nothing, whatever is predicted there.
    logits[:, :2] = rng.standard_normal((3, 2, 8, 5))
    again = MeanIoU(num_classes=5)
    again.update_state(labels, logits)
    np.testing.assert_allclose(float(again.result()), float(metric.result()), rtol=1e-6)


def test_mean_iou_serializes_and_compiles_into_a_segmentation_model():
    restored = MeanIoU.from_config(MeanIoU(num_classes=3, name="miou").get_config())
    assert restored.num_classes == 3 and restored.name == "miou"
    inputs = tf.keras.Input((4, 4, 1))
    model = tf.keras.Model(inputs, tf.keras.layers.Conv2D(3, 1)(inputs))
    model.compile("adam", tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=IGNORE_LABEL),
                  metrics=[MeanIoU(3)])
    labels = np.random.default_rng(0).integers(0, 3, (8, 4, 4))
    result = model.evaluate(np.zeros((8, 4, 4, 1), np.float32), labels, verbose=0, return_dict=True)
    assert 0 <= result["mean_iou"] <= 1
