"""Datasets for training and evaluating binary networks, offline.

`load_dataset` returns batched `tf.data` pipelines of `(image, label)` pairs
ready for `model.fit`. `"digits"` is scikit-learn's handwritten digits, which
ship inside the scikit-learn wheel, so it works on any machine. CIFAR-10,
CIFAR-100 and ImageNet come from TensorFlow Datasets and must already be
prepared in a data dir: nothing here ever downloads. A missing dataset raises
`DatasetUnavailableError`, whose message says how to provide it.

```python
import tfbin
from tfbin.data import load_dataset

data = load_dataset("digits", batch_size=32, image_size=32)
images, labels = next(iter(data.train))
print(images.shape, labels.shape)  # (32, 32, 32, 1) (32,)
```
"""

import contextlib
import dataclasses
import os

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from tensorflow_datasets.core.utils import gcs_utils

from tfbin.choices import DATASETS
from tfbin.validation import check_fraction, check_int, check_one_of

# Per-channel statistics of the training images, pixels scaled to [0, 1].
_CIFAR_STATS = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}
_IMAGENET_STATS = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
_IMAGENET_ARCHIVES = ("ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar")

# Examples held in the shuffle buffer of TFDS training splits (the files are
# shuffled too, so the buffer only has to mix within a few files).
_SHUFFLE_BUFFER = 10_000
_AUTOTUNE = tf.data.AUTOTUNE


class DatasetUnavailableError(RuntimeError):
    """A TFDS dataset is not prepared locally and will not be downloaded."""


@dataclasses.dataclass
class Arrays:
    """A train/test split as numpy arrays: float32 NHWC images, int64 labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int


@dataclasses.dataclass
class Dataset:
    """Batched `(image, label)` pipelines and what a model needs to know."""

    train: tf.data.Dataset
    test: tf.data.Dataset
    num_classes: int
    input_shape: tuple
    train_size: int | None
    test_size: int | None


def _check_image_size(image_size):
    # 8 is the native digits size; 32 fits CIFAR-shaped models.
    check_int("image_size", image_size, minimum=8)


def digits_arrays(image_size=8, test_fraction=0.3, seed=0):
    """Scikit-learn's 1797 handwritten 8x8 digits, split and standardized.

    The split is stratified and fixed by `seed`. Images are upsampled
    bilinearly when `image_size` is above 8, then standardized with the mean
    and standard deviation of the training pixels only, so nothing about the
    test images leaks into training.
    """
    _check_image_size(image_size)
    check_fraction("test_fraction", test_fraction, include_zero=False)
    digits = load_digits()
    images = digits.images.astype(np.float32)[..., np.newaxis]
    if image_size != 8:
        images = tf.image.resize(images, (image_size, image_size)).numpy()
    labels = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=test_fraction, random_state=seed, stratify=labels
    )
    mean, std = x_train.mean(), x_train.std()
    return Arrays(
        x_train=(x_train - mean) / std,
        y_train=y_train,
        x_test=(x_test - mean) / std,
        y_test=y_test,
        num_classes=len(digits.target_names),
    )


def load_dataset(
    name,
    batch_size=64,
    image_size=None,
    seed=0,
    data_dir=None,
    manual_dir=None,
    test_fraction=0.3,
    augment=True,
):
    """Batched train and test pipelines of one of `DATASETS`.

    The training pipeline reshuffles every epoch and, when `augment` is on,
    augments each image with random numbers drawn from `seed`, so a run is
    reproducible. The test pipeline is neither shuffled nor augmented.

    - `"digits"`: `digits_arrays(image_size or 8, test_fraction, seed)`; never
      augmented, since a flipped or shifted digit can be another digit.
    - `"cifar10"`, `"cifar100"`: pad 4 + random 32x32 crop + random horizontal
      flip, per-channel normalization, optionally resized to `image_size`.
    - `"imagenet2012"`: random resized crop to `image_size` (default 224) +
      flip; the test pipeline is the validation split, resized so that its
      shorter side is 256/224 * `image_size` and center-cropped.

    TFDS datasets are read from `data_dir` (TFDS's default when None). An
    ImageNet that is not prepared there is prepared from the archives in
    `manual_dir`, without internet. `test_fraction` only applies to digits,
    `data_dir` and `manual_dir` only to the TFDS datasets.

    Raises:
        ValueError: an unknown `name` or a bad argument.
        DatasetUnavailableError: the TFDS dataset is not prepared locally.
    """
    check_one_of("name", name, DATASETS)
    check_int("batch_size", batch_size, minimum=1)
    if image_size is not None:
        _check_image_size(image_size)
    if name == "digits":
        return _digits_dataset(batch_size, image_size or 8, test_fraction, seed)
    builder = _prepared_builder(name, data_dir, manual_dir)
    if name == "imagenet2012":
        return _imagenet_dataset(builder, batch_size, image_size or 224, seed, augment)
    return _cifar_dataset(builder, batch_size, image_size, seed, augment)


def _digits_dataset(batch_size, image_size, test_fraction, seed):
    arrays = digits_arrays(image_size, test_fraction, seed)
    train = tf.data.Dataset.from_tensor_slices((arrays.x_train, arrays.y_train))
    test = tf.data.Dataset.from_tensor_slices((arrays.x_test, arrays.y_test))
    return Dataset(
        train=_train_pipeline(train, batch_size, seed, len(arrays.x_train)),
        test=_test_pipeline(test, batch_size),
        num_classes=arrays.num_classes,
        input_shape=arrays.x_train.shape[1:],
        train_size=len(arrays.x_train),
        test_size=len(arrays.x_test),
    )


def _train_pipeline(examples, batch_size, seed, buffer_size, augment=None):
    """Reshuffled each epoch; `augment(image, label, seed)` gets its own seed.

    The per-example seeds come from a seeded random dataset that changes every
    epoch, so stateless augmentation differs between epochs yet is the same
    in every run, however many threads the map uses.
    """
    examples = examples.shuffle(buffer_size, seed=seed, reshuffle_each_iteration=True)
    if augment is not None:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        examples = tf.data.Dataset.zip((examples, seeds.batch(2))).map(
            lambda example, example_seed: augment(*example, example_seed),
            num_parallel_calls=_AUTOTUNE,
        )
    return examples.batch(batch_size).prefetch(_AUTOTUNE)


def _train_fn(augment, augment_fn, preprocess):
    """What `_train_pipeline` maps over training examples.

    Without augmentation the training split is preprocessed like the test
    split, still after the shuffle buffer, so that the buffer holds the raw
    examples (uint8 pixels or JPEG bytes) rather than float32 images.
    """
    if augment:
        return augment_fn
    return lambda image, label, _: preprocess(image, label)


def _test_pipeline(examples, batch_size, preprocess=None):
    if preprocess is not None:
        examples = examples.map(preprocess, num_parallel_calls=_AUTOTUNE)
    return examples.batch(batch_size).prefetch(_AUTOTUNE)


@contextlib.contextmanager
def _without_gcs():
    # For a dataset it has no local copy of, TFDS looks up metadata in its GCS
    # bucket. tfbin never fetches anything, and offline that lookup only costs
    # time (seconds, far more behind a firewall that drops packets) and logs
    # credential errors. TFDS has no public switch for it; tfds is pinned.
    disabled = gcs_utils._is_gcs_disabled
    gcs_utils._is_gcs_disabled = True
    try:
        yield
    finally:
        gcs_utils._is_gcs_disabled = disabled


def _prepared_builder(name, data_dir, manual_dir):
    """The TFDS builder of `name`, ImageNet prepared from `manual_dir` if needed."""
    with _without_gcs():
        builder = tfds.builder(name, data_dir=data_dir)
        if name == "imagenet2012" and manual_dir is not None:
            _prepare_imagenet(builder, manual_dir)
    return builder


def _prepare_imagenet(builder, manual_dir):
    if builder.is_prepared():
        return
    missing = [
        archive
        for archive in _IMAGENET_ARCHIVES
        if not os.path.isfile(os.path.join(manual_dir, archive))
    ]
    if missing:
        raise _unavailable(
            builder, f" and manual_dir {manual_dir} lacks {' and '.join(missing)}"
        )
    # TFDS reads the archives where they are: no download, no extraction.
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(
            manual_dir=manual_dir, try_download_gcs=False
        )
    )


def _unavailable(builder, detail=""):
    if builder.name == "imagenet2012":
        how = (
            f"ImageNet cannot be downloaded automatically. Put "
            f"{' and '.join(_IMAGENET_ARCHIVES)} (from https://image-net.org) in "
            f"a folder and pass manual_dir=FOLDER: it is then prepared into the "
            f"data dir once, with no internet needed. Or prepare it elsewhere "
            f"with `tfds build imagenet2012 --manual_dir FOLDER --data_dir DIR`, "
            f"copy DIR here and pass data_dir=DIR."
        )
    else:
        how = (
            f"Prepare it on a machine with internet access with `tfds build "
            f"{builder.name} --data_dir DIR`, copy DIR to this machine and pass "
            f"data_dir=DIR."
        )
    return DatasetUnavailableError(
        f"{builder.name} is not prepared in the data dir {builder.data_dir_root} "
        f"(looked for {builder.data_dir}){detail}, and tfbin never downloads "
        f"data. {how}"
    )


def _read_split(builder, split, shuffle_files=False, seed=0, decoders=None):
    """`builder.as_dataset`, telling the user how to provide missing data.

    TFDS only finds out that a dataset is not prepared when it is asked for a
    split, so that is where the missing data is reported.
    """
    try:
        return builder.as_dataset(
            split=split,
            as_supervised=True,
            shuffle_files=shuffle_files,
            read_config=tfds.ReadConfig(shuffle_seed=seed),
            decoders=decoders,
        )
    except AssertionError as error:
        if builder.is_prepared():
            raise
        raise _unavailable(builder) from error


def _split_size(builder, split):
    splits = builder.info.splits
    return splits[split].num_examples if split in splits else None


def _normalize(image, stats):
    mean, std = stats
    return (tf.cast(image, tf.float32) / 255.0 - mean) / std


def _cifar_dataset(builder, batch_size, image_size, seed, augment):
    stats = _CIFAR_STATS[builder.name]
    size = image_size or 32

    def preprocess(image, label):
        image = _normalize(image, stats)
        if size != 32:
            image = tf.image.resize(image, (size, size))
        return image, label

    def augment_fn(image, label, example_seed):
        crop_seed, flip_seed = tf.unstack(
            tf.random.experimental.stateless_split(example_seed)
        )
        # Zero padding is black before normalization, as in the usual recipe.
        padded = tf.pad(image, [[4, 4], [4, 4], [0, 0]])
        image = tf.image.stateless_random_crop(padded, tf.shape(image), crop_seed)
        image = tf.image.stateless_random_flip_left_right(image, flip_seed)
        return preprocess(image, label)

    return _tfds_dataset(builder, "test", size, batch_size, seed, _train_fn(augment, augment_fn, preprocess),
                         preprocess)


def _random_resized_crop(jpeg, size, seed):
    """Inception-style crop: 8% to 100% of the area, aspect ratio 3/4 to 4/3.

    Only the crop window is decoded, which saves most of the decoding time.
    """
    begin, crop, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.image.extract_jpeg_shape(jpeg),
        bounding_boxes=tf.constant([0.0, 0.0, 1.0, 1.0], shape=(1, 1, 4)),
        seed=seed,
        area_range=(0.08, 1.0),
        aspect_ratio_range=(3 / 4, 4 / 3),
        max_attempts=10,
        use_image_if_no_bounding_boxes=True,
    )
    window = tf.stack([begin[0], begin[1], crop[0], crop[1]])
    image = tf.image.decode_and_crop_jpeg(jpeg, window, channels=3)
    return tf.image.resize(image, (size, size))


def _resize_and_center_crop(jpeg, size):
    """Shorter side to 256/224 * size, then the central size x size square."""
    image = tf.image.decode_jpeg(jpeg, channels=3)
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = size * 256 / 224 / tf.reduce_min(shape)
    image = tf.image.resize(image, tf.cast(tf.round(shape * scale), tf.int32))
    return tf.image.resize_with_crop_or_pad(image, size, size)


def _imagenet_dataset(builder, batch_size, image_size, seed, augment):
    def preprocess(jpeg, label):
        image = _resize_and_center_crop(jpeg, image_size)
        return _normalize(image, _IMAGENET_STATS), label

    def augment_fn(jpeg, label, example_seed):
        crop_seed, flip_seed = tf.unstack(
            tf.random.experimental.stateless_split(example_seed)
        )
        image = _random_resized_crop(jpeg, image_size, crop_seed)
        image = tf.image.stateless_random_flip_left_right(image, flip_seed)
        return _normalize(image, _IMAGENET_STATS), label

    # Images stay JPEG bytes until after the shuffle buffer, which would hold
    # several GB more as decoded pixels.
    return _tfds_dataset(builder, "validation", image_size, batch_size, seed,
                         _train_fn(augment, augment_fn, preprocess), preprocess,
                         decoders={"image": tfds.decode.SkipDecoding()})


def _tfds_dataset(builder, test_split, size, batch_size, seed, train_fn, preprocess, decoders=None):
    """The `Dataset` of a prepared TFDS builder: its train split and `test_split`."""
    train = _read_split(builder, "train", shuffle_files=True, seed=seed, decoders=decoders)
    test = _read_split(builder, test_split, decoders=decoders)
    return Dataset(
        train=_train_pipeline(train, batch_size, seed, _SHUFFLE_BUFFER, train_fn),
        test=_test_pipeline(test, batch_size, preprocess),
        num_classes=builder.info.features["label"].num_classes,
        input_shape=(size, size, 3),
        train_size=_split_size(builder, "train"),
        test_size=_split_size(builder, test_split),
    )
