"""Writes that never leave a half-written file behind, safe loads, and the run record."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

logger = logging.getLogger(__name__)

CACHE_ENV = "GEN_UNLEARN_CACHE"
RECORDED_PACKAGES = ("gen-unlearn", "torch", "torchvision", "diffusers", "accelerate", "torch-fidelity", "clean-fid")


def cache_dir() -> Path:
    """Where gen_unlearn keeps extracted data, samples, masks and reference statistics (`$GEN_UNLEARN_CACHE`)."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "gen_unlearn").expanduser()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is renamed onto `path` in one step."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the file the usual permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory beside `path`; on success it replaces `path` (an old one is removed last)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        old = path.with_name(f".{path.name}.old")
        if path.exists():
            if old.exists():
                shutil.rmtree(old)
            path.rename(old)
        tmp.rename(path)
        if old.exists():
            shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def write_json(path: str | os.PathLike, data: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def write_csv(path: str | os.PathLike, rows: Sequence[dict[str, Any]]) -> None:
    """Rows of dicts as CSV (the first row's keys are the columns; Unix line ends), written atomically."""
    if not rows:
        return
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def save_torch(obj: Any, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_torch(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Any:
    return torch.load(path, map_location=map_location, weights_only=True)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def hash_directory(path: str | os.PathLike) -> str:
    """sha256 over the relative names and contents of every file below `path` (sorted)."""
    root = Path(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")):
        digest.update(str(file.relative_to(root)).encode())
        digest.update(sha256_file(file).encode())
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    versions = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def update_digest(digest: Any, tensor: torch.Tensor, chunk_bytes: int = 1 << 26) -> None:
    """Feed a tensor's raw bytes to `digest` as a stream: 64 MiB at a time reaches the CPU (0-dim tensors too)."""
    flat = tensor.detach().reshape(-1)
    for part in flat.split(max(1, chunk_bytes // flat.element_size())):
        digest.update(part.cpu().contiguous().view(torch.uint8).numpy())


def tensor_sha256(*tensors: torch.Tensor, name: str = "") -> str:
    """sha256 of tensors' shapes, dtypes and raw bytes (and an optional name): data and image sets' key."""
    digest = hashlib.sha256(name.encode())
    for tensor in tensors:
        digest.update(f"{tuple(tensor.shape)} {tensor.dtype}".encode())
        update_digest(digest, tensor)
    return digest.hexdigest()


def update_with_module(digest: Any, module: torch.nn.Module) -> None:
    for key, tensor in module.state_dict().items():
        digest.update(key.encode())
        update_digest(digest, tensor)


def module_sha256(module: torch.nn.Module) -> str:
    """sha256 over a module's state dict (names and raw tensor bytes), streamed."""
    digest = hashlib.sha256()
    update_with_module(digest, module)
    return digest.hexdigest()


def fingerprint_pipeline(pipeline: Any) -> str:
    """sha256 of a pipeline's weights and configs: the key of everything cached about it (samples, masks).

    Hashed as a stream, one tensor at a time (a tensor on a GPU reaches the CPU in chunks).
    """

    def settings(config: Any) -> bytes:
        # `_name_or_path` and the like say where a model came from, not what it is
        public = {k: v for k, v in dict(config).items() if not k.startswith("_")}
        return json.dumps(public, sort_keys=True, default=str).encode()

    digest = hashlib.sha256(settings(pipeline.config))
    for name, component in sorted(pipeline.components.items()):
        digest.update(name.encode())
        if isinstance(component, torch.nn.Module):
            update_with_module(digest, component)
        elif hasattr(component, "config"):
            digest.update(settings(component.config))
    return digest.hexdigest()


def file_label(name: str | os.PathLike) -> str:
    """A pipeline's hub name or folder as one file name: `org/model` -> `org-model`, `runs/x/` -> `runs-x`."""
    return str(name).strip("/").replace("/", "-")


def settings_key(**settings: Any) -> str:
    """A short stable key for a dict of settings (part of cache file names)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def key_value(value: Any) -> Any:
    """A JSON form of a setting that names what it is, for keys of kept results: a module or tensor by the
    sha256 of its contents, a dataclass by its fields, a data set by its `describe()`."""
    if isinstance(value, torch.nn.Module):
        return {"module_sha256": module_sha256(value)}
    if isinstance(value, torch.Tensor):
        return {"tensor_sha256": tensor_sha256(value)}
    if hasattr(value, "describe"):
        return key_value(value.describe())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: key_value(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): key_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [key_value(v) for v in (sorted(value, key=str) if isinstance(value, (set, frozenset)) else value)]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def resumed(folder: str | os.PathLike | None, name: str, key: dict[str, Any], measure: Any) -> Any:
    """`measure()`, kept in `folder/name.json` with the key it was measured under, and read back instead of
    measured again when the key is the same: how an interrupted audit or bench resumes. The result is
    JSON (the same whether measured now or read back); without `folder` it is only measured."""
    path = Path(folder) / f"{name}.json" if folder is not None else None
    key = json.loads(json.dumps(key_value(key)))  # as it reads back from JSON (tuples are lists)
    if path is not None and path.is_file():
        kept = json.loads(path.read_text())
        if kept.get("key") == key:
            logger.info("%s was measured before: read back from %s", name, path)
            return kept["result"]
    result = json.loads(json.dumps(measure(), default=str))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, {"key": key, "result": result})
    return result


def kept_results(folder: str | os.PathLike) -> dict[str, Any]:
    """Every result `resumed` kept in `folder`, by name (an empty dict for a folder not made yet)."""
    paths = sorted(Path(folder).glob("*.json")) if Path(folder).is_dir() else []
    return {path.stem: json.loads(path.read_text())["result"] for path in paths}
