"""Files in and out of a container through the engine's archive API (the part of the
Engine adapter, engine/client.py, about files)."""

from __future__ import annotations

import io
import tarfile
import time

import docker

from greenroom.engine.calls import Calls
from greenroom.engine.model import tar_of
from greenroom.errors import EngineError, NotFound


class EngineFiles:
    """Mixed into engine.client.DockerEngine, whose API client and calls it uses."""

    _api: docker.APIClient
    _call: Calls
    host: str

    def put_files(
        self, container: str, directory: str, files: dict[str, bytes], *, mode: int = 0o644
    ) -> None:
        """Copy files (with `mode`) into a container (created or running) through the
        engine; the directory is created when missing."""
        archive = tar_of(directory, files, mtime=int(time.time()), mode=mode)
        with self._call(f"copy files into {container}:{directory}"):
            if not self._api.put_archive(container, "/", archive):
                raise EngineError(f"copy files into {container}:{directory} failed", where=self.host)

    def get_file(self, container: str, path: str) -> bytes | None:
        """One file out of a container through the engine's archive API; None if missing."""
        try:
            with self._call(f"read {container}:{path}"):
                stream, _ = self._api.get_archive(container, path)
                data = b"".join(stream)
        except NotFound:
            return None
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            member = tar.next()
            f = tar.extractfile(member) if member is not None else None
            return f.read() if f is not None else None
