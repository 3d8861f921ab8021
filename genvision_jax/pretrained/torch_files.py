"""The tensors of PyTorch files, read with numpy: no torch, and nothing in the file is executed.

Three formats share one restricted unpickler:

- TorchScript archives (`torch.jit.save`): a zip whose `<root>/data.pkl` pickles the module tree
  (`__torch__.*` objects with their attributes) and whose `<root>/data/<key>` entries hold each tensor
  storage's raw little-endian bytes. `read_torchscript_tensors` returns every tensor attribute by its
  dotted path. The TorchScript source in `<root>/code/` is never run: the architecture is ours, the
  file only supplies numbers.
- state dicts saved by `torch.save` since torch 1.6: the same zip layout, `data.pkl` a dict of tensors.
- state dicts in the legacy format (before 1.6): consecutive pickles (magic number, protocol version,
  system info, the object, the storage keys) followed by each storage as an int64 element count and
  its bytes. `read_torch_state_dict` reads both kinds.

The unpickler knows a short list of names (tensor rebuilding, storage types, OrderedDict, TorchScript's
list builders; module objects become plain attribute records) and refuses every other global, so a
crafted file cannot make it run code, unlike `pickle.load` or `torch.load(weights_only=False)`.
"""

from __future__ import annotations

import io
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np

_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class _Record:
    """A `__torch__.*` object from a TorchScript pickle: its attributes, nothing callable."""

    qualname = "object"

    def __init__(self):
        self.attributes: dict = {}

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(f"{self.qualname}: unexpected state of type {type(state).__name__}")
        self.attributes = state


def _record_class(qualname: str):
    return type(qualname.rsplit(".", 1)[-1], (_Record,), {"qualname": qualname})


class _StorageType:
    def __init__(self, name: str):
        self.dtype = np.dtype(_DTYPES[name]).newbyteorder("<")


class _Storage:
    """A storage: its bytes now (zip formats) or once the legacy file's tail is read."""

    def __init__(self, dtype: np.dtype, numel: int, data: np.ndarray | None = None):
        self.dtype, self.numel, self.data = dtype, numel, data


class _Tensor:
    """A view into a storage, made concrete after every storage is read."""

    def __init__(self, storage: _Storage, offset: int, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, int(offset), tuple(size), tuple(stride)

    def array(self, source: str) -> np.ndarray:
        data = self.storage.data
        if data is None:
            raise ValueError(f"{source}: a tensor's storage is missing from the file")
        if self.size and min(self.size) > 0:
            last = self.offset + sum((s - 1) * st for s, st in zip(self.size, self.stride))
            if self.offset < 0 or min(self.stride) < 0 or last >= data.size:
                raise ValueError(f"{source}: a tensor of size {self.size} and stride {self.stride} at offset "
                                 f"{self.offset} overruns its storage of {data.size} elements")
        view = np.lib.stride_tricks.as_strided(data[self.offset:], shape=self.size,
                                               strides=tuple(s * data.itemsize for s in self.stride))
        return np.array(view, dtype=data.dtype.newbyteorder("="))  # contiguous, native order, a copy


def _rebuild_tensor(storage, offset, size, stride, *_rest):
    if not isinstance(storage, _Storage):
        raise pickle.UnpicklingError(f"unexpected tensor storage {type(storage).__name__}")
    return _Tensor(storage, offset, size, stride)


def _rebuild_parameter(data, *_rest):
    return data


class _OrderedDict(dict):
    """collections.OrderedDict as pickled by torch (a BUILD may follow it: dict subclasses take one)."""


def _build_list(items):
    return list(items)


class _Unpickler(pickle.Unpickler):
    """Refuses every global but the names of `find_class`; subclass it to admit a format's own few names."""

    def __init__(self, file, source: str, storage_bytes=None):
        super().__init__(file)
        self._source = source
        self._storage_bytes = storage_bytes  # key -> raw bytes (zip formats); None: legacy, filled later
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module, name):
        if module.startswith("__torch__"):
            return _record_class(f"{module}.{name}")
        if module == "torch" and name in _DTYPES:
            return _StorageType(name)
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return _rebuild_parameter
        if (module, name) == ("collections", "OrderedDict"):
            return _OrderedDict
        if (module, name) == ("argparse", "Namespace"):  # training options saved beside weights: data only
            return _record_class("argparse.Namespace")
        if module == "torch.jit._pickle" and name in ("build_intlist", "build_doublelist", "build_boollist",
                                                       "build_tensorlist"):
            return _build_list
        raise pickle.UnpicklingError(f"{self._source}: refusing to load {module}.{name} (only tensors, "
                                     f"dicts and module records are read from PyTorch files)")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"{self._source}: unexpected persistent id {pid!r}")
        storage_type, key, numel = pid[1], str(pid[2]), pid[4]
        if len(pid) > 5 and pid[5] is not None:
            raise pickle.UnpicklingError(f"{self._source}: storage views are not supported (storage {key})")
        if not isinstance(storage_type, _StorageType) or not isinstance(numel, int):
            raise pickle.UnpicklingError(f"{self._source}: unexpected storage {pid!r}")
        if key not in self.storages:
            data = None
            if self._storage_bytes is not None:
                raw = self._storage_bytes(key)
                if len(raw) != numel * storage_type.dtype.itemsize:
                    raise pickle.UnpicklingError(f"{self._source}: storage {key} has {len(raw)} bytes, "
                                                 f"expected {numel} x {storage_type.dtype.itemsize}")
                data = np.frombuffer(raw, storage_type.dtype)
            self.storages[key] = _Storage(storage_type.dtype, numel, data)
        return self.storages[key]


def _flatten(obj, prefix: str, out: dict, source: str) -> None:
    if isinstance(obj, _Tensor):
        out[prefix] = obj.array(source)
    elif isinstance(obj, _Record):
        _flatten(obj.attributes, prefix, out, source)
    elif isinstance(obj, dict):
        for name, value in obj.items():
            _flatten(value, f"{prefix}.{name}" if prefix else str(name), out, source)


RestrictedUnpickler = _Unpickler


def _load_zip(path) -> object:
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise ValueError(f"{path}: not a PyTorch archive (expected one <root>/data.pkl, found {pickles})")
        root = pickles[0].split("/", 1)[0]

        def storage_bytes(key: str) -> bytes:
            try:
                return archive.read(f"{root}/data/{key}")
            except KeyError:
                raise pickle.UnpicklingError(f"{path}: storage {key} is missing from the archive") from None

        with archive.open(pickles[0]) as f:
            return _Unpickler(f, str(path), storage_bytes).load()


def _load_legacy(path: Path) -> object:
    with open(path, "rb") as f:
        return _load_legacy_file(f, str(path))


def _load_legacy_file(f, path: str) -> object:
    header = [_Unpickler(f, str(path)).load() for _ in range(3)]
    if header[0] != _LEGACY_MAGIC:
        raise ValueError(f"{path}: not a PyTorch file (no zip archive, no legacy magic number)")
    unpickler = _Unpickler(f, str(path))
    obj = unpickler.load()
    keys = _Unpickler(f, str(path)).load()
    if not isinstance(keys, list):
        raise ValueError(f"{path}: malformed legacy PyTorch file (storage keys are a {type(keys).__name__})")
    for key in keys:
        storage = unpickler.storages.get(str(key))
        if storage is None:
            raise ValueError(f"{path}: storage {key} is listed but no tensor uses it")
        (numel,) = struct.unpack("<q", f.read(8))
        raw = f.read(numel * storage.dtype.itemsize)
        if numel != storage.numel or len(raw) != numel * storage.dtype.itemsize:
            raise ValueError(f"{path}: storage {key} is truncated or has the wrong size")
        storage.data = np.frombuffer(raw, storage.dtype)
    return obj


def _load(path) -> tuple[Path, object]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    try:
        obj = _load_zip(path) if zipfile.is_zipfile(path) else _load_legacy(path)
    except (pickle.UnpicklingError, EOFError, struct.error, zipfile.BadZipFile) as err:
        raise ValueError(f"{path}: cannot read this PyTorch file: {err}") from err
    return path, obj


def load_bytes(data: bytes, source: str) -> object:
    """The object of a whole `torch.save` file held in memory (zip or legacy format), e.g. the bytes of a
    storage pickled by plain `pickle` (`torch.storage._load_from_bytes`)."""
    buffer = io.BytesIO(data)
    try:
        return _load_zip(buffer) if zipfile.is_zipfile(buffer) else _load_legacy_file(io.BytesIO(data), source)
    except (struct.error, zipfile.BadZipFile) as err:
        raise pickle.UnpicklingError(f"{source}: malformed PyTorch bytes: {err}") from err


def read_torch_tree(path) -> object:
    """The object a `torch.save` file holds (dicts, lists, numbers, strings and tensor handles with
    `.array(source)`), for checkpoints that nest several state dicts; see `tensors_of`."""
    return _load(path)[1]


def tensors_of(obj, source: str) -> dict[str, np.ndarray]:
    """{key: array} of a state dict from `read_torch_tree`; a non-tensor entry is refused by name."""
    if not isinstance(obj, dict):
        raise ValueError(f"{source}: expected a state dict, got {type(obj).__name__}")
    out = {}
    for key, value in obj.items():
        if not isinstance(value, _Tensor):
            raise ValueError(f"{source}: entry {key!r} is a {type(value).__name__}, not a tensor")
        out[str(key)] = value.array(source)
    return out


def read_torchscript_tensors(path) -> dict[str, np.ndarray]:
    """{dotted attribute path: array} of every tensor attribute in a TorchScript archive, named after
    the module tree (`net.layers.mixed.tower.conv.weight`); arrays keep their dtype."""
    path, obj = _load(path)
    if not isinstance(obj, _Record):
        raise ValueError(f"{path}: not a TorchScript module (the archive holds a {type(obj).__name__})")
    out: dict[str, np.ndarray] = {}
    _flatten(obj, "", out, str(path))
    return out


def read_torch_state_dict(path) -> dict[str, np.ndarray]:
    """{key: array} of a state dict saved by `torch.save` (zip or legacy format), unwrapping a checkpoint
    that holds it under 'state_dict'; non-tensor entries are refused by name."""
    path, obj = _load(path)
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a state dict (a mapping of names to tensors); got {type(obj).__name__}")
    return tensors_of(obj, str(path))
