import os
import socket
import time

import tfbin  # noqa: F401  (routes tf.keras to Keras 2 before TensorFlow loads)
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from tfbin import data
from tfbin.data import (
    DATASETS,
    DatasetUnavailableError,
    digits_arrays,
    load_dataset,
)

CIFAR_STATS = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406])
IMAGENET_STD = np.array([0.229, 0.224, 0.225])
NUM_MOCK_EXAMPLES = 6


def batches(dataset):
    return [(x.numpy(), y.numpy()) for x, y in dataset]


def concat(dataset):
    xs, ys = zip(*batches(dataset))
    return np.concatenate(xs), np.concatenate(ys)


# digits


def test_digits_shapes_and_dtypes():
    arrays = digits_arrays()
    assert arrays.x_train.shape[1:] == (8, 8, 1)
    assert arrays.x_test.shape[1:] == (8, 8, 1)
    assert len(arrays.x_train) + len(arrays.x_test) == 1797
    assert len(arrays.x_test) == pytest.approx(0.3 * 1797, abs=1)
    assert len(arrays.y_train) == len(arrays.x_train)
    assert len(arrays.y_test) == len(arrays.x_test)
    assert arrays.x_train.dtype == arrays.x_test.dtype == np.float32
    assert arrays.y_train.dtype == arrays.y_test.dtype == np.int64
    assert arrays.num_classes == 10


def test_digits_split_is_fixed_by_the_seed():
    first, again, other = (
        digits_arrays(seed=0),
        digits_arrays(seed=0),
        digits_arrays(seed=1),
    )
    np.testing.assert_array_equal(first.x_test, again.x_test)
    np.testing.assert_array_equal(first.y_train, again.y_train)
    assert first.x_test.shape == other.x_test.shape
    assert not np.array_equal(first.x_test, other.x_test)


@pytest.mark.parametrize("image_size", [8, 32])
def test_digits_standardized_with_train_statistics(image_size):
    arrays = digits_arrays(image_size=image_size)
    assert arrays.x_train.shape[1:] == (image_size, image_size, 1)
    assert arrays.x_train.mean() == pytest.approx(0, abs=1e-4)
    assert arrays.x_train.std() == pytest.approx(1, abs=1e-4)


def test_digits_test_split_uses_the_train_transform():
    # Raw digit pixels are the integers 0 to 16, all of which occur in both
    # splits: one shared affine transform maps them to the same 17 values.
    arrays = digits_arrays()
    train_values = np.unique(arrays.x_train)
    assert len(train_values) == 17
    np.testing.assert_array_equal(np.unique(arrays.x_test), train_values)


def test_digits_split_is_stratified():
    arrays = digits_arrays(test_fraction=0.2)
    train_counts = np.bincount(arrays.y_train, minlength=10)
    test_counts = np.bincount(arrays.y_test, minlength=10)
    assert np.all(test_counts > 0)
    np.testing.assert_allclose(test_counts, 0.2 * (train_counts + test_counts), atol=1)


@pytest.mark.parametrize("image_size", [4, 8.0, True, "32"])
def test_digits_rejects_bad_image_size(image_size):
    with pytest.raises(ValueError, match="image_size"):
        digits_arrays(image_size=image_size)


@pytest.mark.parametrize("test_fraction", [0, 1, -0.1, 1.5, True, "0.3"])
def test_digits_rejects_bad_test_fraction(test_fraction):
    with pytest.raises(ValueError, match="test_fraction"):
        digits_arrays(test_fraction=test_fraction)


def test_digits_pipelines_yield_batches():
    data = load_dataset("digits", batch_size=32, image_size=32)
    arrays = digits_arrays(image_size=32)
    assert data.input_shape == (32, 32, 1)
    assert data.num_classes == 10
    assert (data.train_size, data.test_size) == (
        len(arrays.x_train),
        len(arrays.x_test),
    )
    x, y = next(iter(data.train))
    assert x.shape == (32, 32, 32, 1) and x.dtype == tf.float32
    assert y.shape == (32,) and y.dtype == tf.int64
    x_test, y_test = concat(data.test)
    assert len(x_test) == data.test_size


def test_digits_test_pipeline_is_not_shuffled():
    data = load_dataset("digits", batch_size=50)
    arrays = digits_arrays()
    first, second = concat(data.test), concat(data.test)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[0], arrays.x_test)
    np.testing.assert_array_equal(first[1], arrays.y_test)


def test_digits_train_pipeline_reshuffles_reproducibly():
    data = load_dataset("digits", batch_size=50, seed=3)
    epoch1, epoch2 = concat(data.train)[1], concat(data.train)[1]
    assert not np.array_equal(epoch1, epoch2)
    assert sorted(epoch1) == sorted(epoch2) == sorted(digits_arrays(seed=3).y_train)
    rebuilt = load_dataset("digits", batch_size=50, seed=3)
    np.testing.assert_array_equal(concat(rebuilt.train)[1], epoch1)


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True, None])
def test_load_dataset_rejects_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match="batch_size"):
        load_dataset("digits", batch_size=batch_size)


def test_load_dataset_rejects_bad_image_size():
    with pytest.raises(ValueError, match="image_size"):
        load_dataset("cifar10", image_size=4)


def test_unknown_dataset_lists_the_allowed_names():
    with pytest.raises(ValueError) as error:
        load_dataset("mnist")
    message = str(error.value)
    assert "'mnist'" in message
    for name in DATASETS:
        assert name in message


# TFDS datasets, on tfds.testing.mock_data's random examples


def raw_examples(name, split):
    """The mocked split as TFDS gives it: uint8 images, int64 labels."""
    builder = tfds.builder(name)
    return concat(builder.as_dataset(split=split, as_supervised=True).batch(100))


def normalize(images, stats):
    mean, std = stats
    return (images / 255.0 - np.array(mean)) / np.array(std)


@pytest.mark.parametrize("name, num_classes", [("cifar10", 10), ("cifar100", 100)])
def test_cifar_test_split_is_normalized_per_channel(name, num_classes):
    with tfds.testing.mock_data(num_examples=NUM_MOCK_EXAMPLES):
        data = load_dataset(name, batch_size=4)
        raw_images, raw_labels = raw_examples(name, "test")
        x_test, y_test = concat(data.test)
        x_train, y_train = next(iter(data.train))
    assert data.num_classes == num_classes
    assert data.input_shape == (32, 32, 3)
    assert x_test.dtype == np.float32 and y_test.dtype == np.int64
    assert x_train.shape == (4, 32, 32, 3) and x_train.dtype == tf.float32
    assert y_train.dtype == tf.int64
    assert raw_images.dtype == np.uint8
    np.testing.assert_allclose(
        x_test, normalize(raw_images, CIFAR_STATS[name]), atol=1e-5
    )
    np.testing.assert_array_equal(y_test, raw_labels)
    assert set(y_test) <= set(range(num_classes))


def test_cifar_augmentation_is_pad_crop_and_flip():
    with tfds.testing.mock_data(num_examples=NUM_MOCK_EXAMPLES):
        data = load_dataset("cifar10", batch_size=NUM_MOCK_EXAMPLES, seed=1)
        raw_images, _ = raw_examples("cifar10", "train")
        epochs = [concat(data.train)[0] for _ in range(3)]
    assert all(epoch.shape == (NUM_MOCK_EXAMPLES, 32, 32, 3) for epoch in epochs)
    padded = np.pad(raw_images, [(0, 0), (4, 4), (4, 4), (0, 0)])
    windows = {
        view[i, y : y + 32, x : x + 32].tobytes()
        for view in (padded, padded[:, :, ::-1])
        for i in range(len(padded))
        for y in range(9)
        for x in range(9)
    }
    mean, std = CIFAR_STATS["cifar10"]
    for epoch in epochs:
        pixels = np.rint((epoch * np.array(std) + np.array(mean)) * 255).astype(
            np.uint8
        )
        assert all(image.tobytes() in windows for image in pixels)
    # Random crops: some image is not the unshifted, unflipped original.
    centered = normalize(raw_images, CIFAR_STATS["cifar10"])
    assert any(
        not np.allclose(image, original, atol=1e-5)
        for image in np.concatenate(epochs)
        for original in centered
    )


def test_cifar_without_augmentation_is_normalized_only():
    with tfds.testing.mock_data(num_examples=NUM_MOCK_EXAMPLES):
        data = load_dataset("cifar100", batch_size=4, augment=False)
        raw_images, _ = raw_examples("cifar100", "train")
        x_train, _ = concat(data.train)
    expected = normalize(raw_images, CIFAR_STATS["cifar100"])
    # Shuffled, so compare as sets of images.
    for image in x_train:
        assert min(np.abs(image - other).max() for other in expected) < 1e-5


def test_cifar_resized_to_image_size():
    with tfds.testing.mock_data(num_examples=NUM_MOCK_EXAMPLES):
        data = load_dataset("cifar10", batch_size=4, image_size=40)
        x_train, _ = next(iter(data.train))
        x_test, _ = next(iter(data.test))
    assert data.input_shape == (40, 40, 3)
    assert x_train.shape == x_test.shape == (4, 40, 40, 3)


def imagenet_range():
    return (0 - IMAGENET_MEAN) / IMAGENET_STD, (1 - IMAGENET_MEAN) / IMAGENET_STD


@pytest.mark.parametrize("augment", [True, False])
def test_imagenet_crops_and_normalizes(augment):
    with tfds.testing.mock_data(num_examples=NUM_MOCK_EXAMPLES):
        data = load_dataset(
            "imagenet2012", batch_size=4, image_size=48, augment=augment
        )
        x_train, y_train = next(iter(data.train))
        x_test, y_test = concat(data.test)
    assert data.num_classes == 1000
    assert data.input_shape == (48, 48, 3)
    assert x_train.shape == (4, 48, 48, 3) and x_train.dtype == tf.float32
    assert y_train.dtype == tf.int64
    assert x_test.shape == (NUM_MOCK_EXAMPLES, 48, 48, 3) and y_test.dtype == np.int64
    low, high = imagenet_range()
    for images in (x_train.numpy(), x_test):
        channels = images.reshape(-1, 3)
        assert np.all(channels >= low - 1e-4) and np.all(channels <= high + 1e-4)


def test_imagenet_default_size_is_224():
    with tfds.testing.mock_data(num_examples=2):
        data = load_dataset("imagenet2012", batch_size=2)
        x_test, _ = next(iter(data.test))
    assert data.input_shape == (224, 224, 3)
    assert x_test.shape == (2, 224, 224, 3)


def test_imagenet_is_prepared_from_manual_dir(tmp_path, monkeypatch):
    for archive in ("ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar"):
        (tmp_path / archive).touch()
    configs = []
    with tfds.testing.mock_data(num_examples=2):
        # Inside mock_data, whose own download_and_prepare is a no-op.
        monkeypatch.setattr(
            tfds.core.DatasetBuilder,
            "download_and_prepare",
            lambda builder, download_config=None: configs.append(download_config),
        )
        data = load_dataset(
            "imagenet2012", batch_size=2, image_size=32, manual_dir=tmp_path
        )
        x_train, _ = next(iter(data.train))
    assert x_train.shape == (2, 32, 32, 3)
    assert len(configs) == 1
    assert os.fspath(configs[0].manual_dir) == os.fspath(tmp_path)
    assert configs[0].try_download_gcs is False


# Datasets that are not there


@pytest.fixture
def network_attempts(monkeypatch):
    """Records every connection and name lookup (any of which would mean a download was tried)."""
    attempts = []

    def record(what):
        def refuse(*args, **kwargs):
            attempts.append((what, args))
            raise OSError(f"{what} refused in tests")

        return refuse

    monkeypatch.setattr(socket.socket, "connect", record("connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", record("connect_ex"))
    monkeypatch.setattr(socket, "getaddrinfo", record("getaddrinfo"))
    return attempts


@pytest.mark.parametrize("name", ["cifar10", "cifar100", "imagenet2012"])
def test_unprepared_dataset_is_reported_not_downloaded(
    name, tmp_path, network_attempts
):
    start = time.monotonic()
    with pytest.raises(DatasetUnavailableError) as error:
        load_dataset(name, data_dir=tmp_path)
    assert time.monotonic() - start < 10
    message = str(error.value)
    assert name in message
    assert str(tmp_path) in message
    assert "data_dir=" in message and "tfds build" in message
    if name == "imagenet2012":
        assert "manual_dir=" in message
        assert (
            "ILSVRC2012_img_train.tar" in message
            and "ILSVRC2012_img_val.tar" in message
        )
    assert network_attempts == []
    assert list(tmp_path.rglob("*")) == []


def test_imagenet_manual_dir_without_archives(tmp_path, network_attempts):
    manual_dir = tmp_path / "manual"
    manual_dir.mkdir()
    (manual_dir / "ILSVRC2012_img_train.tar").touch()
    with pytest.raises(
        DatasetUnavailableError, match="imagenet2012 .* lacks ILSVRC2012_img_val.tar"
    ):
        load_dataset("imagenet2012", data_dir=tmp_path / "data", manual_dir=manual_dir)
    assert network_attempts == []
    assert (
        not (tmp_path / "data").exists() or list((tmp_path / "data").rglob("*")) == []
    )


# Semantic segmentation


def test_digit_scenes_label_the_ink_of_real_held_out_digits():
    (x_train, y_train), (x_test, y_test) = data.digit_scenes_arrays(image_size=32, scenes=(40, 20), seed=1)
    assert x_train.shape == (40, 32, 32, 1) and y_test.shape == (20, 32, 32)
    assert y_train.dtype == np.int32 and set(np.unique(y_train)) <= set(range(11))
    # Every scene has background and at least two digits' worth of labelled ink.
    for labels in y_train:
        assert 0 in labels and len(set(np.unique(labels)) - {0}) >= 1
    # Labelled pixels are the bright ones; the background is dark.
    assert x_train[..., 0][y_train > 0].mean() > x_train[..., 0][y_train == 0].mean() + 1.0
    again = data.digit_scenes_arrays(image_size=32, scenes=(40, 20), seed=1)
    np.testing.assert_array_equal(again[0][1], y_train)


def test_segmentation_pipelines_batch_images_and_label_maps():
    loaded = data.load_segmentation_dataset("digit_scenes", batch_size=8, image_size=(16, 24))
    images, labels = next(iter(loaded.train))
    assert images.shape == (8, 16, 24, 1) and labels.shape == (8, 16, 24) and labels.dtype == tf.int32
    assert loaded.num_classes == 11 and loaded.input_shape == (16, 24, 1)


def test_cityscapes_maps_label_ids_to_the_19_classes_and_ignores_the_rest():
    with tfds.testing.mock_data(num_examples=2):
        loaded = data.load_segmentation_dataset("cityscapes", batch_size=2, image_size=(32, 64))
        images, labels = next(iter(loaded.train))
        test_images, test_labels = next(iter(loaded.test))
    assert images.shape == (2, 32, 64, 3) and test_labels.shape == (2, 32, 64)
    assert loaded.num_classes == 19 and loaded.input_shape == (32, 64, 3)
    values = set(np.unique(labels.numpy())) | set(np.unique(test_labels.numpy()))
    assert values <= set(range(19)) | {255} and 255 in values


def test_cityscapes_not_prepared_names_the_archives(tmp_path, network_attempts):
    with pytest.raises(DatasetUnavailableError) as error:
        data.load_segmentation_dataset("cityscapes", data_dir=tmp_path)
    message = str(error.value)
    assert "leftImg8bit_trainvaltest.zip" in message and "gtFine_trainvaltest.zip" in message
    assert "manual_dir=" in message
    assert network_attempts == []


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(name="ade20k"), "name must be one of digit_scenes, cityscapes"),
        (dict(name="digit_scenes", image_size=(16, 16, 3)), "image_size must be an int or a"),
        (dict(name="digit_scenes", image_size=4), "image_size must be an int >= 8"),
    ],
)
def test_bad_segmentation_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.load_segmentation_dataset(**kwargs)
