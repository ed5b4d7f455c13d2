"""The OCR verdict cache, beside the records: ``<case folder>/.opinionkit-cache/ocr/``.

A records office runs ``check`` many times while a case fills up; an unchanged scan is
not read again. The cache lives in the case folder (owner-only: folders 0700, files
0600), so it goes wherever the records go and is deleted with them; nothing about a
case is cached anywhere else.

One file per (scan, patient): named by a hash of the file's SHA-256 and of the
patient's identity and the OCR engine (:func:`opinionkit.inspect.ocr.identity_key`),
holding each page's verdict ("match", "mismatch" and which kinds differ, "none",
"conflict", "blank") -- never recognised text, never a patient's value. The packet's
text layer needs the text, so ``bundle`` reads the scans again unless
``--no-text-layer``.

A case folder that cannot be written (read-only media, another user's folder) simply
has no cache: nothing fails, nothing is written elsewhere.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path

from opinionkit.inspect.ocr import PageVerdict

__all__ = ["CACHE_DIR", "OcrCache"]

CACHE_DIR = Path(".opinionkit-cache") / "ocr"
"""Relative to the case folder."""
_FORMAT = 1


class OcrCache:
    def __init__(self, case_dir: Path, identity_key: str) -> None:
        self.root = case_dir / CACHE_DIR
        self.identity_key = identity_key

    def _file(self, sha256: str) -> Path:
        name = hashlib.sha256(f"{sha256}:{self.identity_key}".encode()).hexdigest()
        return self.root / f"{name}.json"

    def get(self, sha256: str) -> dict[int, PageVerdict] | None:
        """The cached verdicts of a file's pages (1-based), or None."""
        try:
            with open(self._file(sha256), encoding="utf-8") as fh:
                data = json.load(fh)
            if data.get("format") != _FORMAT:
                return None
            return {
                int(n): PageVerdict(str(v["verdict"]), tuple(str(k) for k in v.get("kinds", ())))
                for n, v in data["pages"].items()
            }
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def put(self, sha256: str, pages: dict[int, PageVerdict]) -> None:
        """Store verdicts (best effort: a folder that cannot be written has no cache)."""
        data = {
            "format": _FORMAT,
            "pages": {
                str(n): {"verdict": v.verdict, "kinds": list(v.kinds)}
                for n, v in sorted(pages.items())
            },
        }
        with contextlib.suppress(OSError):
            self._mkdir()
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:  # mkstemp: mode 0600
                    json.dump(data, fh)
                os.replace(tmp, self._file(sha256))
            except OSError:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise

    def _mkdir(self) -> None:
        top = self.root.parent
        for folder in (top, self.root):
            if not folder.is_dir():
                os.mkdir(folder, 0o700)
            # owner-only whatever the umask or an earlier copy left
            if folder.stat().st_mode & 0o077:
                os.chmod(folder, 0o700)
