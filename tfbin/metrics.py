"""Keras metrics for what tfbin trains beyond classification.

`MeanIoU` scores semantic segmentation the way Cityscapes and PaBT's DeepLab
table do: per-class intersection over union of the predicted class (the
argmax of per-pixel logits) against integer labels, averaged over classes,
with pixels labelled `IGNORE_LABEL` (255) left out.

```python
import numpy as np
import tfbin
from tfbin.metrics import MeanIoU

labels = np.array([[[0, 1], [1, 255]]])                # one 2x2 map; 255 is ignored
logits = np.array([[[[2.0, 0.0], [0.0, 3.0]], [[1.0, 0.0], [0.0, 1.0]]]])
miou = MeanIoU(num_classes=2)
miou.update_state(labels, logits)
float(miou.result())                                  # (1/2 + 1/2) / 2 = 0.5
```
"""
import tensorflow as tf

from tfbin.registry import register
from tfbin.validation import check_int

__all__ = ["IGNORE_LABEL", "MeanIoU"]

# The label of pixels that count in no loss and no metric (Cityscapes' void classes).
IGNORE_LABEL = 255


@register
class MeanIoU(tf.keras.metrics.MeanIoU):
    """Mean intersection over union of per-pixel logits (..., num_classes) against integer labels."""

    def __init__(self, num_classes, ignore_class=IGNORE_LABEL, name="mean_iou", dtype=None):
        check_int("num_classes", num_classes, minimum=2)
        super().__init__(num_classes=num_classes, name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=True, sparse_y_pred=False)

    def get_config(self):
        return {"num_classes": self.num_classes, "ignore_class": self.ignore_class, "name": self.name,
                "dtype": self.dtype}
