"""The built-in MNIST-format data sets: one :class:`IdxSet` entry each.

To add one: write its entry here and list it in ``BUILT_IN``. Digests come from a
published source (named beside each); never from a file we downloaded ourselves.
"""

from __future__ import annotations

from pathlib import Path

from automl_fashion.data.idxset import FileSpec, IdxSet
from automl_fashion.data.info import FASHION_MNIST as FASHION

IMAGES = 28 * 28

FASHION_MNIST = IdxSet(
    name=FASHION.name,
    title="Fashion-MNIST",
    # classes, statistics, location and digests: the one description in data/info.py (the
    # digests are SHA-256 of the decompressed files, checked against Zalando's .gz files and
    # Debian's recompressed ones, which differ as .gz but not once decompressed)
    classes=FASHION.classes,
    mean=FASHION.mean[0],
    std=FASHION.std[0],
    flips=FASHION.flips,
    url=FASHION.source,
    files=(
        FileSpec(
            "train-images",
            "train-images-idx3-ubyte",
            47_040_016,
            FASHION.digests["train-images-idx3-ubyte"],
            (60_000, 28, 28),
        ),
        FileSpec(
            "train-labels",
            "train-labels-idx1-ubyte",
            60_008,
            FASHION.digests["train-labels-idx1-ubyte"],
            (60_000,),
        ),
        FileSpec(
            "test-images",
            "t10k-images-idx3-ubyte",
            7_840_016,
            FASHION.digests["t10k-images-idx3-ubyte"],
            (10_000, 28, 28),
        ),
        FileSpec(
            "test-labels",
            "t10k-labels-idx1-ubyte",
            10_008,
            FASHION.digests["t10k-labels-idx1-ubyte"],
            (10_000,),
        ),
    ),
    raw_dir="raw",
    data_env="AUTOML_FASHION_DATA",
    mirror_env="AUTOML_FASHION_MIRROR",
    system_dir=Path("/usr/share/datasets/fashion-mnist"),
    hint=(
        "install the Debian/Ubuntu package (sudo apt-get install dataset-fashion-mnist) "
        "or pass --data-dir DIR holding the four IDX files"
    ),
)

MNIST = IdxSet(
    name="mnist",
    title="MNIST",
    classes=tuple(str(digit) for digit in range(10)),
    mean=0.1307,  # the values torchvision's MNIST examples normalise with
    std=0.3081,
    flips=False,  # a flipped 2 is no 2
    # LeCun's page (yann.lecun.com/exdb/mnist) now asks for a login; this is the mirror
    # TensorFlow Datasets downloads from, the same .gz files
    url="https://storage.googleapis.com/cvdf-datasets/mnist/",
    # .gz sizes and SHA-256: tensorflow/datasets, tensorflow_datasets/url_checksums/mnist.txt
    # (no digest of the decompressed files is published)
    files=(
        FileSpec(
            "train-images",
            "train-images-idx3-ubyte",
            16 + 60_000 * IMAGES,
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            (60_000, 28, 28),
            gz_size=9_912_422,
        ),
        FileSpec(
            "train-labels",
            "train-labels-idx1-ubyte",
            8 + 60_000,
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            (60_000,),
            gz_size=28_881,
        ),
        FileSpec(
            "test-images",
            "t10k-images-idx3-ubyte",
            16 + 10_000 * IMAGES,
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            (10_000, 28, 28),
            gz_size=1_648_877,
        ),
        FileSpec(
            "test-labels",
            "t10k-labels-idx1-ubyte",
            8 + 10_000,
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            (10_000,),
            gz_size=4_542,
        ),
    ),
    raw_dir="mnist/raw",
)

KMNIST = IdxSet(
    name="kmnist",
    title="Kuzushiji-MNIST",
    # one hiragana per row of the syllabary, in the order of the labels (rois-codh/kmnist)
    classes=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
    # the values used across torchvision KMNIST code (where Fashion-MNIST's 0.2860/0.3530
    # beside them match its files); not recomputed here: no download from this machine
    mean=0.1918,
    std=0.3483,
    flips=False,  # characters, like digits, change when mirrored
    url="https://codh.rois.ac.jp/kmnist/dataset/kmnist/",
    # .gz sizes and SHA-256: tensorflow/datasets, tensorflow_datasets/url_checksums/kmnist.txt
    # (the same digests as torchvision-ruby's KMNIST resources)
    files=(
        FileSpec(
            "train-images",
            "train-images-idx3-ubyte",
            16 + 60_000 * IMAGES,
            "51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4",
            (60_000, 28, 28),
            gz_size=18_165_135,
        ),
        FileSpec(
            "train-labels",
            "train-labels-idx1-ubyte",
            8 + 60_000,
            "e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17",
            (60_000,),
            gz_size=29_497,
        ),
        FileSpec(
            "test-images",
            "t10k-images-idx3-ubyte",
            16 + 10_000 * IMAGES,
            "edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5",
            (10_000, 28, 28),
            gz_size=3_041_136,
        ),
        FileSpec(
            "test-labels",
            "t10k-labels-idx1-ubyte",
            8 + 10_000,
            "20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c",
            (10_000,),
            gz_size=5_120,
        ),
    ),
    raw_dir="kmnist/raw",
)

#: ``--dataset NAME`` -> its entry; the first is the default.
BUILT_IN: dict[str, IdxSet] = {entry.name: entry for entry in (FASHION_MNIST, MNIST, KMNIST)}
