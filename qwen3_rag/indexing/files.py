"""Find the corpus files among the paths given to ``qwen3-rag index``.

A directory is searched without leaving it: a symbolic link inside it that points outside
(a file or a directory) is skipped and listed, unless ``follow_symlinks`` is set. Links whose
target lies inside the directory are harmless and read once. A path named on the command line
is taken as given, link or not: the user chose it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["IMAGE_SUFFIXES", "SUFFIXES", "TEXT_SUFFIXES", "FileScan", "find_files", "is_image",
           "scan_paths"]

#: The text formats :mod:`qwen3_rag.indexing.corpus_reader` reads.
TEXT_SUFFIXES = (".jsonl", ".csv", ".parquet", ".txt", ".md")
#: Images, indexed into a multimodal collection (a Qwen3-VL embedding model).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
#: Every file ``index`` picks up.
SUFFIXES = TEXT_SUFFIXES + IMAGE_SUFFIXES


def is_image(path: str | Path) -> bool:
    """Whether ``path`` is one of the image files ``index`` reads (by suffix)."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


@dataclass
class FileScan:
    """What a search found.

    Attributes:
        files: The supported files, in order, each once.
        skipped_links: ``(link, target)`` of the links left alone because they leave their
            directory.
    """

    files: list[Path] = field(default_factory=list)
    skipped_links: list[tuple[Path, Path]] = field(default_factory=list)


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _walk(root: Path, follow_symlinks: bool, scan: FileScan, seen: set[Path]) -> None:
    real_root = root.resolve()
    # Directories to search: (path as the user sees it, real path). Each real one once, so
    # followed links never loop.
    pending = [(root, real_root)]
    visited = {real_root}
    while pending:
        directory, _ = pending.pop()
        try:
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name, reverse=True)
        except OSError:
            continue  # unreadable: nothing of it can be indexed
        children = []
        for entry in entries:
            path = Path(entry.path)
            if entry.is_symlink():
                target = path.resolve()
                if not follow_symlinks and not _inside(target, real_root):
                    scan.skipped_links.append((path, target))
                    continue
            else:
                target = path
            if entry.is_dir():  # follows the link, where links are allowed
                real = target.resolve()
                if real not in visited:
                    visited.add(real)
                    children.append((path, real))
            elif entry.is_file() and path.suffix.lower() in SUFFIXES:
                real = target.resolve()
                if real not in seen:
                    seen.add(real)
                    scan.files.append(path)
        pending.extend(children)


def scan_paths(paths: Iterable[str | Path], *, follow_symlinks: bool = False) -> FileScan:
    """The supported files among ``paths``, directories searched recursively, each file once.

    Args:
        paths: Files and directories.
        follow_symlinks: Follow links inside directories that point outside them.

    Raises:
        FileNotFoundError: A path does not exist.
        ValueError: A file named directly has an unsupported suffix.
    """
    scan = FileScan()
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            found = FileScan()
            _walk(path, follow_symlinks, found, seen)
            scan.files += sorted(found.files)
            scan.skipped_links += sorted(found.skipped_links)
        elif path.is_file():
            if path.suffix.lower() not in SUFFIXES:
                raise ValueError(f"{path}: unsupported file type (use {', '.join(SUFFIXES)})")
            real = path.resolve()
            if real not in seen:
                seen.add(real)
                scan.files.append(path)
        else:
            raise FileNotFoundError(f"{path} does not exist")
    return scan


def find_files(paths: Iterable[str | Path], *, follow_symlinks: bool = False) -> list[Path]:
    """The files of :func:`scan_paths`, for callers that need no list of skipped links."""
    return scan_paths(paths, follow_symlinks=follow_symlinks).files
