"""The engine's images: present or pulled, each pull within a progress-based deadline
(the part of the Engine adapter, engine/client.py, about images)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import docker
import docker.errors
import docker.utils

from greenroom.engine.bound import CallBound
from greenroom.engine.calls import Calls
from greenroom.errors import NotFound

PULL_PROGRESS = 120.0  # seconds a pull may go without progress (at least; 4 bounds when more)


class EngineImages:
    """Mixed into engine.client.Engine, whose API client, calls and bound it uses."""

    _api: docker.APIClient
    _call: Calls
    bound: CallBound
    host: str

    def ensure_image(self, image: str, *, hint: str = "") -> None:
        """The image on the engine, pulled if missing; `hint` says what to do when it can't be."""
        with self._call(f"image {image}"):
            try:
                self._api.inspect_image(image)  # type: ignore[no-untyped-call]
                return
            except docker.errors.ImageNotFound:
                pass
            try:
                for event in self._pull_events(image):
                    if "error" in event:
                        raise docker.errors.APIError(str(event["error"]), explanation=str(event["error"]))
            except docker.errors.APIError as exc:
                raise NotFound(
                    f"image {image} is not on the engine and could not be pulled ({exc.explanation})",
                    where=self.host,
                    hint=hint
                    or "load an image that has sh and cat onto the engine and name it with "
                    "--helper-image or GREENROOM_HELPER_IMAGE",
                ) from exc

    def image_id(self, ref: str) -> str | None:
        try:
            with self._call(f"image {ref}"):
                doc = self._api.inspect_image(ref)  # type: ignore[no-untyped-call]
        except NotFound:
            return None
        digests = doc.get("RepoDigests") or []
        return str(digests[0] if digests else doc["Id"])

    def image_inspect(self, ref: str) -> dict[str, Any] | None:
        """The engine's inspect document of an image, None when it is not on the engine."""
        try:
            with self._call(f"image {ref}"):
                return dict(self._api.inspect_image(ref))  # type: ignore[no-untyped-call]
        except NotFound:
            return None

    @property
    def pull_progress(self) -> float:
        """How long a pull may go without a word of progress (extracting a large layer is quiet)."""
        return max(PULL_PROGRESS, 4 * self.bound.seconds)

    def _pull_events(self, ref: str) -> Iterator[dict[str, Any]]:
        """POST /images/create as a stream of progress events, each within `pull_progress`
        of the last (the SDK's pull waits forever)."""
        repo, tag = docker.utils.parse_repository_tag(ref)
        params = {"fromImage": repo, "tag": tag or "latest"}
        url = f"{self._api.base_url}/v{self._api.api_version}/images/create"
        res = getattr(self._api, "_post")(url, params=params, stream=True, timeout=self.pull_progress)  # noqa: B009
        getattr(self._api, "_raise_for_status")(res)  # noqa: B009
        yield from getattr(self._api, "_stream_helper")(res, decode=True)  # noqa: B009

    def pull(self, ref: str, progress: Callable[[str], None] | None = None) -> None:
        with self._call(f"pull {ref}", long=self.pull_progress):
            for event in self._pull_events(ref):
                if "error" in event:
                    raise NotFound(
                        f"pull {ref}: {event['error']}",
                        where=self.host,
                        hint="check the image name, or load the image onto the engine",
                    )
                if progress and event.get("status"):
                    progress(f"{event.get('id', '')} {event['status']} {event.get('progress', '')}".strip())
