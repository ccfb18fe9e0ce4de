"""Bearer token, allowed photo roots and request limits of the batch API."""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
from collections.abc import Sequence
from pathlib import Path, PurePath

from ..imageio import IMAGE_EXTENSIONS

TOKEN_FILE = "token"


class Refused(Exception):
    """A request the server will not serve; ``status`` is the HTTP code, ``code`` a short name."""

    def __init__(self, status: int, code: str, detail: str):
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def ensure_token(state: Path) -> tuple[str, bool]:
    """The server's API token (created at first start, mode 0600). Returns (token, created)."""
    path = state / TOKEN_FILE
    if path.exists():
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
        token = path.read_text().strip()
        if token:
            return token, False
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(path, 0o600)
    return token, True


def token_matches(header: str | None, token: str) -> bool:
    if not header or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[len("Bearer "):].strip().encode(), token.encode())


class Roots:
    """The folders clients may name; everything is checked after resolving symlinks."""

    def __init__(self, roots: Sequence[str | os.PathLike]):
        self.roots = []
        for r in roots:
            p = Path(r).expanduser().resolve()
            if not p.is_dir():
                raise ValueError(f"--root {r}: not a folder")
            self.roots.append(p)
        if not self.roots:
            raise ValueError("give at least one --root folder that clients may submit photos from")

    def check(self, raw: str, what: str = "path") -> Path:
        """The resolved path for a client's ``raw`` path; Refused (403) outside every root."""
        if not isinstance(raw, str) or not raw or "\x00" in raw:
            raise Refused(400, "bad_path", f"{what} must be a non-empty path")
        pure = PurePath(raw)
        if ".." in pure.parts:
            raise Refused(403, "path_refused", f"{what} {raw!r}: '..' is not allowed in paths")
        if not pure.is_absolute():
            raise Refused(400, "bad_path", f"{what} {raw!r} must be an absolute path on the server")
        resolved = Path(raw).resolve()
        if not any(resolved == r or resolved.is_relative_to(r) for r in self.roots):
            raise Refused(403, "path_refused", f"{what} {raw!r} is outside the server's allowed roots "
                                              f"(symlinks resolved)")
        return resolved


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def photo_list(roots: Roots, folder: str | None, photos: list[str] | None, base: str | None,
               max_photos: int) -> tuple[Path, list[tuple[str, str]]]:
    """(job root, [(resolved path, path relative to the root)]) sorted by relative path."""
    from ..ingest import scan_photos
    if bool(folder) == bool(photos):
        raise Refused(400, "bad_request", "give either 'folder' or a non-empty 'photos' list")
    if folder:
        root = roots.check(folder, "folder")
        if not root.is_dir():
            raise Refused(404, "not_found", f"folder {folder!r} does not exist on the server")
        files = scan_photos(root)
        if len(files) > max_photos:
            raise Refused(413, "too_many_photos", f"{folder!r} holds {len(files)} photos; this server takes "
                                                  f"at most {max_photos} per job")
        bad = [f for f in files if not _utf8(str(f))]
        if bad:
            shown = str(bad[0].relative_to(root)).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            raise Refused(400, "bad_file_name", f"{len(bad)} file name(s) in {folder!r} are not valid UTF-8, e.g. "
                          f"{shown!r}; rename them (or run `irbis detect` on the folder, which takes any name)")
        # realpath never raises (a link loop stays a path inside the folder; the worker says what it is)
        resolved = [(str(f), Path(os.path.realpath(f))) for f in files]
    else:
        assert photos is not None
        if len(photos) > max_photos:
            raise Refused(413, "too_many_photos", f"{len(photos)} photos; this server takes at most "
                                                  f"{max_photos} per job")
        resolved = [(p, roots.check(p, "photo")) for p in photos]
        for raw, p in resolved:
            if not p.is_file():
                raise Refused(404, "not_found", f"photo {raw!r} does not exist on the server")
            if not p.name.lower().endswith(IMAGE_EXTENSIONS):
                raise Refused(400, "not_a_photo", f"{raw!r} is not a .jpg/.jpeg/.png/.webp file")
        if base:
            root = roots.check(base, "base")
        else:
            root = Path(os.path.commonpath([str(p.parent) for _, p in resolved]))
    out: dict[str, str] = {}
    for raw, p in resolved:
        if not p.is_relative_to(root):
            raise Refused(403, "path_refused", f"photo {raw!r} resolves outside the job's folder {str(root)!r} "
                                               f"(symlink escape)")
        # A folder's entries keep their own names (a link is reported as itself, not as its target).
        key = Path(raw) if folder else p
        out[str(key)] = key.relative_to(root).as_posix()
    if not out:
        raise Refused(400, "no_photos", "no .jpg/.jpeg/.png/.webp photos found")
    return root, sorted(out.items(), key=lambda kv: kv[1])
