"""A folder of labelled pictures: reading, the held-out test part, the cache, bad folders."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from automl_fashion.data import DatasetInfo, DatasetSpec, load_split, load_test, open_dataset
from automl_fashion.data.files import cache_dir
from automl_fashion.data.folder import FolderDataset, open_folder, read_picture
from automl_fashion.data.pictures import read_pictures
from automl_fashion.errors import DataError

from .conftest import make_folder

THREE = {"boots": 10, "hats": 10, "shirts": 10}


def test_gray_folder_holds_out_a_stratified_fifth(isolated_cache: Path, tmp_path: Path) -> None:
    root = make_folder(tmp_path / "shop", THREE)
    data = open_folder(root)
    info = data.info
    assert info.name == "folder:shop" and info.source == str(root)
    assert info.classes == ("boots", "hats", "shirts")
    assert info.shape == (1, 28, 28) and info.reading == "resize" and info.flips is True
    assert info.test == "held out 20%, seed 0"
    assert set(info.digests) == {"files"} and len(info.digests["files"]) == 64
    X, y = data.train()
    _, y_test = data.test()
    assert X.shape == (24, 28, 28) and X.dtype == np.uint8 and y.dtype == np.int64
    assert np.bincount(y_test).tolist() == [2, 2, 2] and np.bincount(y).tolist() == [8, 8, 8]
    # mean and std are those of the training part
    assert info.mean[0] == pytest.approx(X.mean() / 255, abs=1e-4)
    assert info.std[0] == pytest.approx(X.std() / 255, abs=1e-4)
    # the class is what the picture shows: brightness grows with the label here
    assert X[y == 0].mean() < X[y == 1].mean() < X[y == 2].mean()
    assert DatasetInfo.from_dict(info.as_dict()) == info


def test_the_name_keeps_the_folder_name_and_replaces_only_what_names_may_not_hold(
    isolated_cache: Path, tmp_path: Path
) -> None:
    assert open_folder(make_folder(tmp_path / "my_shop 2", THREE)).info.name == ("folder:my_shop 2")
    assert open_folder(make_folder(tmp_path / "shop;x", THREE)).info.name == "folder:shop-x"


def test_the_seed_chooses_the_held_out_part(isolated_cache: Path, tmp_path: Path) -> None:
    root = make_folder(tmp_path / "shop", THREE)
    first, again, other = (open_folder(root, seed=s) for s in (0, 0, 1))
    np.testing.assert_array_equal(first.test_index, again.test_index)
    assert not np.array_equal(first.test_index, other.test_index)
    assert other.info.test == "held out 20%, seed 1"


def test_rgb_at_another_size_with_a_test_folder(isolated_cache: Path, tmp_path: Path) -> None:
    root = make_folder(tmp_path / "shop", THREE, ext=".jpg")
    make_folder(root, {"boots": 2, "shirts": 3}, part="test", seed=1, ext=".jpg")
    data = open_dataset(DatasetSpec(folder=str(root), image_size=16, color="rgb"))
    assert isinstance(data, FolderDataset)
    assert data.info.shape == (3, 16, 16) and data.info.array_shape == (16, 16, 3)
    assert data.info.test == "folder" and len(data.info.mean) == 3
    X, _ = data.train()
    X_test, y_test = data.test()
    assert X.shape == (30, 16, 16, 3) and X_test.shape == (5, 16, 16, 3)
    assert y_test.tolist() == [0, 0, 2, 2, 2]  # test/ classes take train/'s labels
    assert data.counts() == {"train": [10, 10, 10], "test": [2, 0, 3]}


def test_split_and_test_of_a_folder(isolated_cache: Path, tmp_path: Path) -> None:
    data = open_folder(make_folder(tmp_path / "shop", THREE))
    split = load_split(dataset=data, seed=3)
    assert split.info == data.info
    assert len(split.y_train) + len(split.y_val) == 24 and len(split.y_val) == 4
    X_test, _ = load_test(dataset=data)
    assert len(X_test) == 6


def test_second_open_comes_from_the_cache(isolated_cache: Path, tmp_path: Path) -> None:
    root = make_folder(tmp_path / "shop", THREE)
    first = open_folder(root)
    assert not first.from_cache
    [entry] = (cache_dir() / "folders").glob("*.npz")
    second = open_folder(root)
    assert second.from_cache and second.info == first.info
    np.testing.assert_array_equal(first.images, second.images)
    # another reading of the same files is another entry
    assert not open_folder(root, size=20).from_cache
    assert len(list((cache_dir() / "folders").glob("*.npz"))) == 2
    # a damaged entry is read again and rewritten
    entry.write_bytes(b"not an npz")
    third = open_folder(root)
    assert not third.from_cache
    np.testing.assert_array_equal(first.images, third.images)
    assert open_folder(root).from_cache


def test_a_changed_picture_is_read_again(isolated_cache: Path, tmp_path: Path) -> None:
    root = make_folder(tmp_path / "shop", THREE)
    first = open_folder(root)
    picture = root / "train" / "hats" / "0.png"
    Image.new("L", (12, 12), 255).save(picture)
    stat = picture.stat()
    os.utime(picture, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    second = open_folder(root)
    assert not second.from_cache
    assert second.info.digests != first.info.digests
    assert (second.images[10] == 255).all()  # hats/0.png is the eleventh picture


def test_the_cache_is_optional(isolated_cache: Path, tmp_path: Path) -> None:
    root = make_folder(tmp_path / "shop", THREE)
    open_folder(root, use_cache=False)
    assert not (cache_dir() / "folders").exists()


def _bad(tmp_path: Path, case: str) -> Path:
    root = tmp_path / "bad"
    if case == "missing":
        return root
    if case == "no train":
        (root / "pictures").mkdir(parents=True)
        return root
    if case == "empty":
        (root / "train" / "boots").mkdir(parents=True)
        (root / "train" / "hats").mkdir()
        return root
    make_folder(root, {"boots": 6, "hats": 6})
    if case == "one class":
        shutil.rmtree(root / "train" / "hats")
    elif case == "few":
        make_folder(root, {"socks": 4}, seed=2)
    elif case == "unreadable":
        (root / "train" / "hats" / "broken.png").write_bytes(b"not a picture")
    elif case == "file in train":
        shutil.copy(root / "train" / "hats" / "0.png", root / "train" / "stray.png")
    elif case == "folder in class":
        (root / "train" / "hats" / "winter").mkdir()
    elif case == "test class":
        make_folder(root, {"boots": 2, "gloves": 2}, part="test")
    elif case == "empty test":
        (root / "test" / "boots").mkdir(parents=True)
    return root


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", r"--data .*bad: no such folder"),
        ("no train", r"--data .*bad: no train/ folder; expected .*/train/<class>/\*\.png"),
        ("empty", r"--data .*bad: train/ holds no pictures"),
        ("one class", r"only one class \(boots\) in train/; expected at least 2 class folders"),
        ("few", r"class 'socks' has 4 picture\(s\) in train/; expected at least 5"),
        ("unreadable", r"bad/train/hats/broken.png: not an image that can be decoded"),
        ("file in train", r"train/stray.png is a file directly in train/ \(mixed nesting\)"),
        ("folder in class", r"train/hats/winter is a folder inside a class folder \(mixed"),
        ("test class", r"test/gloves is not a class of train/ \(its classes: boots, hats\)"),
        ("empty test", r"test/ holds no pictures"),
    ],
)
def test_bad_folders_are_one_line_errors(
    isolated_cache: Path, tmp_path: Path, case: str, message: str
) -> None:
    with pytest.raises(DataError, match=message) as caught:
        open_folder(_bad(tmp_path, case))
    assert "\n" not in str(caught.value)


def test_hidden_and_other_files_are_ignored(isolated_cache: Path, tmp_path: Path) -> None:
    root = make_folder(tmp_path / "shop", THREE)
    (root / "train" / ".DS_Store").write_bytes(b"x")
    (root / "train" / "hats" / "notes.txt").write_text("x")
    (root / "train" / ".cache").mkdir()
    data = open_folder(root)
    assert data.scan.ignored == 3 and len(data.labels) == 30


def test_read_picture_modes(tmp_path: Path) -> None:
    # transparency is laid on white, whatever the colour mode
    clear = Image.new("RGBA", (30, 20), (0, 0, 0, 0))
    clear.save(tmp_path / "clear.png")
    assert (read_picture(tmp_path / "clear.png", (8, 8), "gray") == 255).all()
    rgb = read_picture(tmp_path / "clear.png", (6, 10), "rgb")
    assert rgb.shape == (6, 10, 3) and (rgb == 255).all()
    # a 16-bit grayscale PNG keeps its top 8 bits
    deep = Image.fromarray(np.full((9, 9), 32896, dtype=np.uint16))
    deep.save(tmp_path / "deep.png")
    assert (read_picture(tmp_path / "deep.png", (4, 4), "gray") == 128).all()
    # a palette GIF and a colour JPEG
    Image.new("P", (12, 12), 3).save(tmp_path / "p.gif")
    assert read_picture(tmp_path / "p.gif", (28, 28), "gray").shape == (28, 28)
    Image.new("RGB", (64, 48), (255, 0, 0)).save(tmp_path / "red.jpg")
    red = read_picture(tmp_path / "red.jpg", (28, 28), "rgb")
    assert red[..., 0].min() > 200 and red[..., 1].max() < 60


def test_read_picture_turns_photos_upright(tmp_path: Path) -> None:
    pixels = np.zeros((20, 40), dtype=np.uint8)
    pixels[:, :20] = 255  # left half white
    picture = Image.fromarray(pixels)
    exif = picture.getexif()
    exif[0x0112] = 6  # stored turned: display rotated 90 degrees clockwise
    picture.save(tmp_path / "turned.jpg", exif=exif, quality=95)
    upright = read_picture(tmp_path / "turned.jpg", (40, 20), "gray")
    assert upright[:15].mean() > 200 and upright[25:].mean() < 50  # white on top


def test_read_picture_names_bad_files(tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(DataError, match=r"empty.png: not an image that can be decoded"):
        read_picture(tmp_path / "empty.png", (28, 28), "gray")
    with pytest.raises(DataError, match=r"missing.png: no such file"):
        read_picture(tmp_path / "missing.png", (28, 28), "gray")


@pytest.mark.parametrize("executor", ["threads", "processes"])
def test_parallel_reads_match_the_plain_read(tmp_path: Path, executor: str) -> None:
    root = make_folder(tmp_path / "many", {"a": 300, "b": 300})
    paths = sorted(root.glob("train/*/*.png"))
    plain = read_pictures(paths, (12, 12), "gray", workers=1)
    done = []
    parallel = read_pictures(
        paths, (12, 12), "gray", workers=2, executor=executor, progress=done.append
    )
    np.testing.assert_array_equal(plain, parallel)
    assert sum(done) == 600


def test_an_unreadable_picture_stops_a_parallel_read(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "many", {"a": 300, "b": 300})
    (root / "train" / "b" / "77.png").write_bytes(b"garbage")
    paths = sorted(root.glob("train/*/*.png"))
    with pytest.raises(DataError, match=r"b/77.png: not an image that can be decoded"):
        read_pictures(paths, (12, 12), "gray", workers=2, executor="processes")


# -- names and records that are not to be trusted --------------------------------------------
@pytest.mark.skipif(os.name != "posix", reason="file names as bytes")
def test_a_picture_name_that_is_not_utf8_is_a_one_line_error(
    isolated_cache: Path, tmp_path: Path
) -> None:
    """A zip made with another encoding gives names Python carries as surrogates; they
    cannot go into the study or the ONNX metadata (a UnicodeEncodeError was a traceback)."""
    root = make_folder(tmp_path / "shop", THREE)
    shutil.copy(
        root / "train/hats/0.png", os.path.join(os.fsencode(root / "train/hats"), b"caf\xe9.png")
    )
    with pytest.raises(
        DataError, match=r"train/hats/'caf\\udce9.png' is not a UTF-8 name"
    ) as caught:
        open_folder(root, use_cache=False)
    assert "\n" not in str(caught.value)


def test_a_class_folder_with_a_control_character_is_refused(
    isolated_cache: Path, tmp_path: Path
) -> None:
    """Class names reach the terminal and the model card, whose reader refuses them."""
    root = make_folder(tmp_path / "shop", {"boots": 10, "ha\nts": 10})
    with pytest.raises(DataError, match=r"train/'ha\\nts' is not a UTF-8 name without control"):
        open_folder(root, use_cache=False)


def test_a_recorded_description_is_compared_before_any_picture_is_decoded(
    isolated_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crafted model card or study can name any folder: its listing is compared with what
    was recorded first, so other pictures are never read (nor cached)."""
    from automl_fashion.data import folder as folder_module

    shop = open_folder(make_folder(tmp_path / "shop", THREE), use_cache=False).info
    other = make_folder(tmp_path / "other", THREE, seed=1)

    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("a picture was decoded")

    decode = folder_module.read_pictures
    monkeypatch.setattr(folder_module, "read_pictures", no_decoding)
    with pytest.raises(DataError, match=r"--data .*other: not the pictures recorded for folder:"):
        open_folder(other, expect=shop)  # other files (same classes)
    renamed = DatasetInfo.from_dict({**shop.as_dict(), "classes": ["a", "b", "c"]})
    with pytest.raises(DataError, match=r"not the pictures recorded"):
        open_folder(tmp_path / "shop", expect=renamed)  # same files, other classes
    assert not cache_dir().exists() or not any(cache_dir().rglob("*.npz"))
    monkeypatch.setattr(folder_module, "read_pictures", decode)
    assert open_folder(tmp_path / "shop", expect=shop).info.same_data(shop)
