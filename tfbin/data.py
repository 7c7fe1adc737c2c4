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

from tfbin.choices import DATASETS, SEGMENTATION_DATASETS
from tfbin.metrics import IGNORE_LABEL
from tfbin.validation import check_fraction, check_int, check_one_of

# Per-channel statistics of the training images, pixels scaled to [0, 1].
_CIFAR_STATS = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}
_IMAGENET_STATS = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
# Datasets whose archives must be fetched by hand (registration), then prepared
# from a manual_dir: TFDS name -> (archives, where to get them).
_MANUAL_ARCHIVES = {
    "imagenet2012": (("ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar"), "https://image-net.org"),
    "cityscapes": (("leftImg8bit_trainvaltest.zip", "gtFine_trainvaltest.zip"), "https://www.cityscapes-dataset.com"),
}

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
    (x_train, y_train), (x_test, y_test) = _digits_split(test_fraction, seed)
    if image_size != 8:
        x_train, x_test = (tf.image.resize(x, (image_size, image_size)).numpy() for x in (x_train, x_test))
    mean, std = x_train.mean(), x_train.std()
    return Arrays(
        x_train=(x_train - mean) / std,
        y_train=y_train,
        x_test=(x_test - mean) / std,
        y_test=y_test,
        num_classes=10,
    )


def _digits_split(test_fraction, seed):
    """The raw digits (pixel values 0..16, NHWC) split into ((x, y) train, (x, y) test), stratified."""
    check_fraction("test_fraction", test_fraction, include_zero=False)
    digits = load_digits()
    images = digits.images.astype(np.float32)[..., np.newaxis]
    labels = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=test_fraction, random_state=seed, stratify=labels
    )
    return (x_train, y_train), (x_test, y_test)


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
    """The TFDS builder of `name`, prepared from `manual_dir` if it is a manual dataset."""
    with _without_gcs():
        builder = tfds.builder(name, data_dir=data_dir)
        if builder.name in _MANUAL_ARCHIVES and manual_dir is not None:
            _prepare_from_archives(builder, manual_dir)
    return builder


def _prepare_from_archives(builder, manual_dir):
    if builder.is_prepared():
        return
    archives, _ = _MANUAL_ARCHIVES[builder.name]
    missing = [archive for archive in archives if not os.path.isfile(os.path.join(manual_dir, archive))]
    if missing:
        raise _unavailable(
            builder, f" and manual_dir {manual_dir} lacks {' and '.join(missing)}"
        )
    # TFDS reads the archives where they are: nothing is downloaded.
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(
            manual_dir=manual_dir, try_download_gcs=False
        )
    )


def _unavailable(builder, detail=""):
    if builder.name in _MANUAL_ARCHIVES:
        archives, source = _MANUAL_ARCHIVES[builder.name]
        how = (
            f"{builder.name} cannot be downloaded automatically. Put "
            f"{' and '.join(archives)} (from {source}) in "
            f"a folder and pass manual_dir=FOLDER: it is then prepared into the "
            f"data dir once, with no internet needed. Or prepare it elsewhere "
            f"with `tfds build {builder.name} --manual_dir FOLDER --data_dir DIR`, "
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


def _read_split(builder, split, shuffle_files=False, seed=0, decoders=None, as_supervised=True):
    """`builder.as_dataset`, telling the user how to provide missing data.

    TFDS only finds out that a dataset is not prepared when it is asked for a
    split, so that is where the missing data is reported.
    """
    try:
        return builder.as_dataset(
            split=split,
            as_supervised=as_supervised,
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


# -- semantic segmentation ------------------------------------------------------

# Cityscapes' label ids (gtFine_labelIds) of its 19 evaluated classes, in training-id order
# (road, sidewalk, building, wall, fence, pole, traffic light, traffic sign, vegetation, terrain,
# sky, person, rider, car, truck, bus, train, motorcycle, bicycle); every other id is ignored.
_CITYSCAPES_LABEL_IDS = (7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33)


def _segmentation_size(image_size, default):
    size = default if image_size is None else image_size
    size = (size, size) if not isinstance(size, (tuple, list)) else tuple(size)
    if len(size) != 2:
        raise ValueError(f"image_size must be an int or a (height, width) pair, got {image_size!r}")
    for side in size:
        check_int("image_size", side, minimum=8)
    return size


def load_segmentation_dataset(name, batch_size=8, image_size=None, seed=0, data_dir=None, manual_dir=None,
                              augment=True, test_fraction=0.3):
    """Batched `(image, labels)` pipelines for semantic segmentation.

    Labels are int32 maps of shape (height, width) holding class ids, and
    `IGNORE_LABEL` where a pixel belongs to no evaluated class.

    - `"digit_scenes"`: scenes of 32x32 (default) made of scikit-learn's
      real handwritten digits, two or three per scene at random places; each
      pixel's label is its digit's class + 1 where the digit has ink, 0 for
      the background (11 classes). Bundled, so it works offline; the digits
      of the test scenes are the held-out digits.
    - `"cityscapes"`: TFDS `cityscapes/semantic_segmentation` (its train and
      validation splits), labels mapped to the 19 evaluated classes, resized
      to `image_size` (default 512x1024, as in PaBT's DeepLab setup) and
      normalised like ImageNet; training images are flipped at random. The
      archives need registration: prepare from `manual_dir` holding
      leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip.

    `image_size` is an int (square) or a (height, width) pair.
    """
    check_one_of("name", name, SEGMENTATION_DATASETS)
    check_int("batch_size", batch_size, minimum=1)
    if name == "digit_scenes":
        return _digit_scenes_dataset(batch_size, _segmentation_size(image_size, 32), test_fraction, seed)
    size = _segmentation_size(image_size, (512, 1024))
    builder = _prepared_builder("cityscapes/semantic_segmentation", data_dir, manual_dir)
    return _cityscapes_dataset(builder, batch_size, size, seed, augment)


def digit_scenes_arrays(image_size=32, scenes=(1000, 300), test_fraction=0.3, seed=0):
    """(train, test) pairs of (images, labels) arrays of digit scenes; see `load_segmentation_dataset`."""
    height, width = _segmentation_size(image_size, 32)
    if height < 16 or width < 16:
        raise ValueError(f"image_size must be at least 16 for digit scenes (digits are 16x16), got {image_size!r}")
    rng = np.random.default_rng(seed)
    splits = _digits_split(test_fraction, seed)
    scale = np.ones((2, 2, 1), np.float32)  # digits drawn at 16x16
    out = []
    for (digits, classes), count in zip(splits, scenes):
        images = np.zeros((count, height, width, 1), np.float32)
        labels = np.zeros((count, height, width), np.int32)
        for scene in range(count):
            for index in rng.choice(len(digits), size=rng.integers(2, 4), replace=False):
                top, left = rng.integers(0, height - 15), rng.integers(0, width - 15)
                ink = np.kron(digits[index], scale)
                window = (slice(top, top + 16), slice(left, left + 16))
                images[scene][window] = np.maximum(images[scene][window], ink)
                labels[scene][window] = np.where(ink[..., 0] >= 4, classes[index] + 1, labels[scene][window])
        out.append((images, labels))
    mean, std = out[0][0].mean(), out[0][0].std()
    return tuple(((images - mean) / std, labels) for images, labels in out)


def _digit_scenes_dataset(batch_size, size, test_fraction, seed):
    (x_train, y_train), (x_test, y_test) = digit_scenes_arrays(size, test_fraction=test_fraction, seed=seed)
    train = tf.data.Dataset.from_tensor_slices((x_train, y_train))
    test = tf.data.Dataset.from_tensor_slices((x_test, y_test))
    return Dataset(
        train=_train_pipeline(train, batch_size, seed, len(x_train)),
        test=_test_pipeline(test, batch_size),
        num_classes=11,
        input_shape=x_train.shape[1:],
        train_size=len(x_train),
        test_size=len(x_test),
    )


def _cityscapes_dataset(builder, batch_size, size, seed, augment):
    train_ids = np.full(256, IGNORE_LABEL, np.int32)
    train_ids[list(_CITYSCAPES_LABEL_IDS)] = np.arange(len(_CITYSCAPES_LABEL_IDS))
    train_ids = tf.constant(train_ids)

    def preprocess(png, label_png):
        image = tf.image.resize(tf.cast(tf.io.decode_png(png, channels=3), tf.float32), size)
        labels = tf.gather(train_ids, tf.cast(tf.io.decode_png(label_png, channels=1), tf.int32))
        labels = tf.image.resize(labels, size, method="nearest")[..., 0]
        return _normalize(image, _IMAGENET_STATS), labels

    def augment_fn(png, label_png, example_seed):
        image, labels = preprocess(png, label_png)
        flip = tf.random.stateless_uniform((), example_seed) < 0.5
        return tf.cond(flip, lambda: (image[:, ::-1], labels[:, ::-1]), lambda: (image, labels))

    # PNGs stay encoded until after the shuffle buffer: decoded, a few dozen
    # 1024x2048 frames would take gigabytes.
    decoders = {"image_left": tfds.decode.SkipDecoding(), "segmentation_label": tfds.decode.SkipDecoding()}

    def pairs(split, **kwargs):
        examples = _read_split(builder, split, decoders=decoders, as_supervised=False, **kwargs)
        return examples.map(lambda example: (example["image_left"], example["segmentation_label"]))

    return Dataset(
        train=_train_pipeline(pairs("train", shuffle_files=True, seed=seed), batch_size, seed, 64,
                              _train_fn(augment, augment_fn, preprocess)),
        test=_test_pipeline(pairs("validation"), batch_size, preprocess),
        num_classes=len(_CITYSCAPES_LABEL_IDS),
        input_shape=(*size, 3),
        train_size=_split_size(builder, "train"),
        test_size=_split_size(builder, "validation"),
    )
