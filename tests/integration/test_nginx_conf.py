"""Every config greenroom renders is one the proxy image's nginx accepts (`nginx -t`), on
both engines' images: no pools, a few, and more apps than one nginx token could list."""

from __future__ import annotations

import pytest

from greenroom.proxy import render
from tests.bed import BedEngine, Scratch, uid

CASES = {
    "no pools": (),
    "one app": tuple(f"10.213.1.{i}:8000" for i in (3, 4, 5, 6)),
    "300 apps": tuple(sorted(f"10.213.{i // 64}.{i % 64 + 3}:8000" for i in range(1200))),
    "https": tuple(f"10.213.1.{i}:8000" for i in (3, 4)),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_rendered_config_passes_nginx_t(bed: BedEngine, box: Scratch, case: str) -> None:
    net = box.network(f"gr-it-{uid()}")
    name = box.run(f"gr-it-nginx-{uid()}", net, image=bed.base_image, command=["sleep", "600"])
    for slot_port in render.ADMIN_PORTS:
        tls_listen = 8443 if case == "https" else None
        files = render.files(render.ProxySettings(listen=8080, tls_listen=tls_listen), CASES[case], slot_port)
        bed.engine().put_files(name, render.CONF_DIR, files)
        out = box.client.containers.get(name).exec_run(["nginx", "-t", "-c", f"{render.CONF_DIR}/nginx.conf"])
        assert isinstance(out.output, bytes)
        text = out.output.decode()
        assert out.exit_code == 0, text
        assert "could not build optimal" not in text, text  # the map hash is sized for its pools
