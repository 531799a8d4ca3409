"""Using an exported model (model.py): untrusted cards and graphs, and untrusted pictures.

The model folders here are written by hand (a 784 x C linear graph and a card), so that a
wrong output width or a bad card field can be made without training anything.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

from automl_fashion import model as model_module
from automl_fashion.data import CLASSES, pictures, zalando
from automl_fashion.errors import DataError
from automl_fashion.model import ModelError, NoObjectFound, load_model, printable, read_image


def write_model_folder(
    directory: Path, *, width: int | None = 10, columns: int = 10, card: dict | None = None
) -> Path:
    """A model folder: ``pixels`` -> softmax(x @ W) with ``columns`` outputs; the graph
    declares ``width`` output columns (None: no output shape, known only when it runs)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = np.random.default_rng(0).normal(0, 0.01, (784, columns)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Reshape", ["pixels", "shape"], ["flat"]),
            helper.make_node("MatMul", ["flat", "W"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        ],
        "tiny",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, None)],
        [
            helper.make_tensor_value_info(
                "probabilities", TensorProto.FLOAT, None if width is None else ["N", width]
            )
        ],
        [
            numpy_helper.from_array(np.array([-1, 784], np.int64), "shape"),
            numpy_helper.from_array(weights, "W"),
        ],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])
    proto.ir_version = 8
    directory.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(directory / "model.onnx"))
    base = {"family": "linear", "study": "t", "test_accuracy": 0.5, "classes": list(CLASSES)}
    (directory / "model_card.json").write_text(json.dumps(base if card is None else card))
    return directory


def write_png(path: Path, width: int, height: int, *, mode: str = "L") -> Path:
    """A valid black PNG of any size (mode "1", "L" or "RGB"), streamed row by row, so that
    a picture of hundreds of megapixels costs a few hundred kB and no memory to make."""
    depth, colour, row_bytes = {
        "1": (1, 0, (width + 7) // 8),
        "L": (8, 0, width),
        "RGB": (8, 2, 3 * width),
    }[mode]
    row = b"\0" * (1 + row_bytes)  # filter type 0, then the row's bytes
    packer = zlib.compressobj(1)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )
    return path


def shirt(size: tuple[int, int] = (120, 90), mode: str = "RGB") -> Image.Image:
    """A dark blob on a white background: a picture with an object in it."""
    img = Image.new(mode, size, "white")
    w, h = size
    ImageDraw.Draw(img).ellipse((w // 4, h // 4, 3 * w // 4, 3 * h // 4), fill="black")
    return img


# -- pictures -------------------------------------------------------------------------------
def test_a_picture_with_an_object_is_read_as_before(tmp_path: Path) -> None:
    shirt().save(tmp_path / "x.png")
    pixels = read_image(tmp_path / "x.png")
    assert pixels.shape == (28, 28) and pixels.max() > 200  # inverted: light object on black


@pytest.mark.parametrize(
    "picture",
    [
        Image.new("L", (1, 1), 0),
        Image.new("L", (1, 1), 200),
        Image.new("RGB", (64, 48), "white"),
        Image.new("RGB", (64, 48), "black"),
        Image.new("RGBA", (64, 48), (255, 0, 0, 0)),  # all transparent
        Image.new("L", (64, 48), 128),
    ],
    ids=["1x1-black", "1x1-grey", "white", "black", "transparent", "grey"],
)
def test_a_picture_of_one_flat_colour_has_no_object(picture: Image.Image, tmp_path: Path) -> None:
    picture.save(tmp_path / "blank.png")
    with pytest.raises(NoObjectFound, match=r"blank\.png: no object found"):
        read_image(tmp_path / "blank.png")


def test_jpeg_noise_on_a_white_page_is_no_object(tmp_path: Path) -> None:
    noise = np.random.default_rng(0).integers(250, 256, (60, 60), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "page.jpg", quality=80)
    with pytest.raises(NoObjectFound):
        read_image(tmp_path / "page.jpg")


def test_only_regular_files_are_read(tmp_path: Path) -> None:
    (tmp_path / "folder.png").mkdir()
    for path in (tmp_path / "folder.png", Path(os.devnull)):
        with pytest.raises(DataError, match="not a regular file"):
            read_image(path)
    with pytest.raises(DataError, match="no such file"):
        read_image(tmp_path / "missing.png")


def test_a_picture_too_large_to_decode_is_refused_before_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pictures, "MAX_IMAGE_MEMORY", 11 * 100 * 100)  # 10,000 gray pixels
    shirt((120, 90), "L").save(tmp_path / "big.png")
    decoded: list[Any] = []
    monkeypatch.setattr(Image.Image, "load", lambda self: decoded.append(self))
    with pytest.raises(DataError, match=r"big.png: 120 x 90 pixels is too large.*at most 0"):
        read_image(tmp_path / "big.png")
    assert not decoded


def test_a_large_jpeg_is_decoded_at_a_reduced_scale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shirt((400, 300)).save(tmp_path / "photo.jpg", quality=95)
    full = read_image(tmp_path / "photo.jpg")
    monkeypatch.setattr(pictures, "MAX_IMAGE_MEMORY", 11 * 40_000)  # 40,000 gray pixels
    reduced = read_image(tmp_path / "photo.jpg")  # 400 x 300 at 1/4: 100 x 75
    assert np.abs(reduced - full).mean() < 20  # the same object, scaled down
    with Image.open(tmp_path / "photo.jpg") as img:
        assert img.width * img.height > 40_000


def test_a_decompression_bomb_is_a_one_line_error(tmp_path: Path) -> None:
    write_png(tmp_path / "bomb.png", 20_000, 20_000)
    with pytest.raises(DataError, match=r"bomb\.png: too large to read"):
        read_image(tmp_path / "bomb.png")


def test_formats_that_run_external_programs_are_not_opened(tmp_path: Path) -> None:
    (tmp_path / "x.eps").write_text("%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n")
    with pytest.raises(DataError, match="not an image that can be decoded; expected PNG"):
        read_image(tmp_path / "x.eps")


# -- faithful preprocessing (issue 15) ------------------------------------------------------
@pytest.fixture(scope="module")
def test_images() -> tuple[np.ndarray, np.ndarray]:
    from automl_fashion.data import load_test

    X, y = load_test()
    return X[:48], y[:48]


def test_a_fashion_mnist_image_saved_as_png_passes_through_unchanged(
    test_images: tuple, tmp_path: Path
) -> None:
    from benchmarks.renderings import alpha, png28

    for i, x in enumerate(test_images[0]):
        for render in (png28, alpha):  # as it is, and a cut-out on a transparent page
            assert np.array_equal(read_image(render(x, tmp_path / f"{i}")), x)
        opaque = np.stack([x, np.full_like(x, 255)], axis=-1)  # an alpha channel, all opaque
        Image.fromarray(opaque, "LA").save(tmp_path / "la.png")
        assert np.array_equal(read_image(tmp_path / "la.png"), x)
        Image.fromarray(255 - x).save(tmp_path / "negative.png")  # dark on light: negated
        assert np.array_equal(read_image(tmp_path / "negative.png"), x)


def test_renderings_of_real_test_images_classify_like_the_raw_arrays(
    test_images: tuple, tiny_split: Any, tmp_path: Path
) -> None:
    from automl_fashion import families
    from automl_fashion.search_space import load_space
    from benchmarks.renderings import RENDERINGS

    params = {**load_space("linear").init, "features": "pixels", "epochs": 3}
    params.pop("hog_cell", None)
    model = families.create("linear", params, seed=0, threads=1).fit(tiny_split)
    X, _ = test_images
    raw = model.predict(X.astype(np.float32))
    for way, render in RENDERINGS.items():
        read = np.stack([read_image(render(x, tmp_path / f"{way}-{i}")) for i, x in enumerate(X)])
        agree = int(np.sum(model.predict(read) == raw))
        # pixel-level linear models are the most sensitive; the whole test set is measured
        # by benchmarks/renderings.py
        assert agree >= len(X) - 4, f"{way}: {agree} of {len(X)} predictions as on raw arrays"


def test_a_photo_is_trimmed_scaled_and_centred_like_fashion_mnist(
    test_images: tuple, tmp_path: Path
) -> None:
    # the object's longest edge fills the 28 pixels and the shorter one is centred, the
    # odd pixel after it, wherever the object was on the page
    x = test_images[0][1]  # a pullover, narrower than it is tall
    page = Image.new("L", (300, 200), 255)
    page.paste(Image.fromarray(255 - x).resize((84, 84), Image.Resampling.BICUBIC), (30, 100))
    page.save(tmp_path / "page.png")
    read = read_image(tmp_path / "page.png")
    rows, cols = np.flatnonzero((read > 13).any(1)), np.flatnonzero((read > 13).any(0))
    assert rows[-1] - rows[0] + 1 >= 27
    width = cols[-1] - cols[0] + 1
    assert cols[0] == (29 - width) // 2


def test_a_picture_whose_object_vanishes_at_28_pixels_has_no_object(tmp_path: Path) -> None:
    # a strip of noise: averaged down to 28 cells it is its own background everywhere
    noise = np.random.default_rng(0).integers(0, 256, (1, 5000), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "strip.png")
    with pytest.raises(NoObjectFound, match=r"strip\.png: no object found \(too small"):
        read_image(tmp_path / "strip.png")


@pytest.mark.parametrize("shape", [(1, 2), (3, 1), (27, 28), (29, 29), (7, 300), (5000, 1)])
def test_odd_shapes_become_28_by_28_grey_levels(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(1)
    for gray in (
        rng.integers(0, 256, shape, dtype=np.uint8),
        np.where(rng.random(shape) < 0.5, 0, 255).astype(np.uint8),
    ):
        out = zalando.convert(gray)
        assert out.shape == (28, 28) and out.dtype == np.float32
        assert out.min() >= 0 and out.max() <= 255 and np.array_equal(out, np.rint(out))


# -- model folders ----------------------------------------------------------------------
def test_a_hand_made_folder_loads_and_predicts(tmp_path: Path) -> None:
    model = load_model(write_model_folder(tmp_path / "m"))
    proba = model.predict_proba(np.zeros((3, 28, 28), np.float32))
    assert proba.shape == (3, 10) and model.classes == list(CLASSES)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("classes", "Shirt", "field 'classes' must be a list of 10 non-empty names"),
        ("classes", CLASSES[:9], "field 'classes' must be a list of 10"),
        ("classes", [*CLASSES[:9], 7], "field 'classes' must be a list of 10"),
        ("classes", [*CLASSES[:9], " "], "field 'classes' must be a list of 10"),
        ("classes", [*CLASSES[:9], "x" * 101], "field 'classes' must be a list of 10"),
        ("classes", [*CLASSES[:9], "\x1b[31mBoot\x1b[0m"], "without control characters"),
        ("family", 3, "field 'family' must be a string; got 3"),
        ("study", ["a"], "field 'study' must be a string"),
        ("test_accuracy", "high", "field 'test_accuracy' must be a number from 0 to 1"),
        ("test_accuracy", True, "field 'test_accuracy' must be a number from 0 to 1"),
        ("test_accuracy", 1.5, "field 'test_accuracy' must be a number from 0 to 1"),
    ],
)
def test_card_fields_of_the_wrong_type_are_refused(
    field: str, value: object, message: str, tmp_path: Path
) -> None:
    card = {"family": "linear", "classes": list(CLASSES), field: value}
    with pytest.raises(ModelError, match=message):
        load_model(write_model_folder(tmp_path / "m", card=card))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"family": "linear", "x": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deep"),
        ('["classes"]', "expected a JSON object"),
        ('{"test_accuracy": NaN}', "field 'test_accuracy' must be a number"),
        ("{", "not a valid model card"),
    ],
)
def test_cards_that_are_not_json_objects_are_refused(
    text: str, message: str, tmp_path: Path
) -> None:
    folder = write_model_folder(tmp_path / "m")
    (folder / "model_card.json").write_text(text)
    with pytest.raises(ModelError, match=message):
        load_model(folder)


def test_a_graph_with_the_wrong_number_of_outputs_is_refused_on_load(tmp_path: Path) -> None:
    folder = write_model_folder(tmp_path / "m", width=9, columns=9)
    with pytest.raises(ModelError, match=r"has shape \['N', 9\]; expected \[N, 10\]"):
        load_model(folder)


def test_a_graph_of_unknown_width_is_checked_when_it_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # onnxruntime infers this graph's width; skip the check on load to get to the run
    monkeypatch.setattr(model_module, "check_graph", lambda *args: None)
    model = load_model(write_model_folder(tmp_path / "m", width=None, columns=1))
    with pytest.raises(ModelError, match=r"shape \(2, 1\) for 2 images; expected \(2, 10\)"):
        model.predict(np.zeros((2, 28, 28), np.float32))


def test_printable_escapes_terminal_controls_and_keeps_text() -> None:
    assert printable("T-shirt/top é") == "T-shirt/top é"
    assert printable("\x1b[31mBoot\x1b[0m\n\u202e") == "\\x1b[31mBoot\\x1b[0m\\n\\u202e"


# -- the predict command ----------------------------------------------------------------
def predict(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "automl_fashion", "predict", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_predict_goes_on_past_a_bad_picture_and_says_which(tmp_path: Path) -> None:
    folder = write_model_folder(tmp_path / "m")
    shirt().save(tmp_path / "good.png")
    Image.new("L", (8, 8), 255).save(tmp_path / "white.png")
    (tmp_path / "notes.png").write_text("not a picture")
    pictures = [tmp_path / "notes.png", tmp_path / "good.png", tmp_path / "white.png"]
    run = predict(folder, *pictures, "--format", "json")
    assert run.returncode == 2
    assert run.stderr.startswith(f"automl-fashion: error: {pictures[0]}: not an image")
    rows = json.loads(run.stdout)
    assert [r["image"] for r in rows] == list(map(str, pictures))
    assert "not an image" in rows[0]["error"]
    assert rows[1]["class"] in CLASSES and 0 < rows[1]["probability"] <= 1
    assert rows[2]["class"] is None and rows[2]["note"] == "no object found"
    text = predict(folder, *pictures[1:])
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines()[1].startswith(f"{pictures[2]}: no object found")


def test_predict_prints_no_terminal_escapes(tmp_path: Path) -> None:
    card = {"family": "linear", "classes": [*CLASSES[:9], "\x1b[2JBoot"]}
    run = predict(write_model_folder(tmp_path / "bad", card=card), tmp_path / "x.png")
    assert run.returncode == 2 and "\x1b" not in run.stderr + run.stdout
    assert "field 'classes' must be names without control characters" in run.stderr
    folder = write_model_folder(tmp_path / "m")
    named = tmp_path / "\x1b[31mred.png"
    shirt().save(named, format="PNG")
    run = predict(folder, named)
    assert run.returncode == 0 and "\x1b" not in run.stdout
    assert run.stdout.startswith(f"{tmp_path}/\\x1b[31mred.png: ")


# -- graphs that are not to be trusted -------------------------------------------------------
def _edit_graph(folder: Path, edit: Callable[[Any], None]) -> Path:
    import onnx

    proto = onnx.load(str(folder / "model.onnx"))
    edit(proto)
    onnx.save(proto, str(folder / "model.onnx"))
    return folder


@pytest.mark.parametrize("where", ["inside", "outside"])
def test_a_graph_that_refers_to_external_data_is_refused(tmp_path: Path, where: str) -> None:
    """Exports never use external data, and onnxruntime before 1.24 read it from any path
    a graph named (a crafted model.onnx could read a private file into a weight)."""
    import onnx

    folder = write_model_folder(tmp_path / "m")
    proto = onnx.load(str(folder / "model.onnx"))
    target = folder / "weights.bin" if where == "inside" else tmp_path / "secret.bin"
    onnx.save(
        proto,
        str(folder / "model.onnx"),
        save_as_external_data=True,
        location="weights.bin",
        size_threshold=0,
    )
    if where == "outside":  # the same bytes, named by an absolute path
        (folder / "weights.bin").rename(target)
        proto = onnx.load(str(folder / "model.onnx"), load_external_data=False)
        for tensor in proto.graph.initializer:
            for entry in tensor.external_data:
                if entry.key == "location":
                    entry.value = str(target)
        onnx.save(proto, str(folder / "model.onnx"))
    with pytest.raises(ModelError, match=r"cannot load the ONNX model \(the graph refers to ext"):
        load_model(folder)


def test_a_graph_that_fails_when_it_runs_is_a_one_line_error(tmp_path: Path) -> None:
    """It loads and declares the right shapes, then cannot reshape 3 images into 2 rows:
    onnxruntime's own exception was a traceback."""
    from onnx import numpy_helper

    def reshape_wrong(proto: Any) -> None:
        (shape,) = [t for t in proto.graph.initializer if t.name == "shape"]
        shape.CopyFrom(numpy_helper.from_array(np.array([2, -1], np.int64), "shape"))

    model = load_model(_edit_graph(write_model_folder(tmp_path / "m"), reshape_wrong))
    with pytest.raises(ModelError, match=r"model.onnx: the ONNX model failed to run \(") as caught:
        model.predict(np.zeros((3, 28, 28), np.float32))
    assert "\n" not in str(caught.value)


def test_a_graph_whose_output_is_not_floats_is_refused_on_load(tmp_path: Path) -> None:
    from onnx import TensorProto, helper

    def strings(proto: Any) -> None:
        softmax = proto.graph.node[-1]
        softmax.output[0] = "p"
        proto.graph.node.append(
            helper.make_node("Cast", ["p"], ["probabilities"], to=TensorProto.STRING)
        )
        proto.graph.output[0].type.tensor_type.elem_type = TensorProto.STRING

    folder = _edit_graph(write_model_folder(tmp_path / "m"), strings)
    with pytest.raises(ModelError, match=r"'probabilities' is tensor\(string\); expected tensor"):
        load_model(folder)


def test_text_from_a_graph_is_escaped_in_errors(tmp_path: Path) -> None:
    def evil(proto: Any) -> None:
        proto.graph.node[-1].op_type = "Evil\x1b[31mRED"

    folder = _edit_graph(write_model_folder(tmp_path / "m"), evil)
    with pytest.raises(ModelError) as caught:
        load_model(folder)
    assert "\x1b" not in str(caught.value) and "\\x1b" in str(caught.value)
