"""The official `openai` Python client against `lumen serve`, unchanged but for base_url."""
import base64
import threading

import openai
import pytest
from openai import OpenAI

from conftest import TINY_SD

PNG = b"\x89PNG\r\n\x1a\n"


def client_for(server, key="unused"):
    return OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0, timeout=600)


def test_b64_json(server):
    r = client_for(server).images.generate(prompt="a red metal sphere left of a blue cube on grass at sunset", extra_body={"seed": 3})
    assert len(r.data) == 1
    assert base64.b64decode(r.data[0].b64_json).startswith(PNG)
    assert r.data[0].revised_prompt
    assert r.size == "128x128" and r.output_format == "png"
    assert r.usage.total_tokens > 0


def test_url_and_n4(server):
    r = client_for(server).images.generate(prompt="a small green cone", n=4, response_format="url", extra_body={"seed": 5, "steps": 4})
    assert len(r.data) == 4
    urls = [d.url for d in r.data]
    assert len(set(urls)) == 4
    import urllib.request
    for u in urls:
        assert u.startswith(server.url + "/v1/images/files/img_")
        with urllib.request.urlopen(u) as f:
            assert f.headers["Content-Type"] == "image/png"
            assert f.read().startswith(PNG)


def test_jpeg_and_webp(server):
    for fmt, magic in (("jpeg", b"\xff\xd8"), ("webp", b"RIFF")):
        r = client_for(server).images.generate(prompt="a torus", output_format=fmt, output_compression=85)
        assert base64.b64decode(r.data[0].b64_json).startswith(magic)
        assert r.output_format == fmt


def test_streaming_partial_images(server):
    stream = client_for(server).images.generate(prompt="a watercolor of a lake", stream=True, partial_images=2)
    events = list(stream)
    types = [e.type for e in events]
    assert types == ["image_generation.partial_image", "image_generation.partial_image", "image_generation.completed"]
    assert [e.partial_image_index for e in events[:2]] == [0, 1]
    assert base64.b64decode(events[-1].b64_json).startswith(PNG)
    assert events[-1].usage.total_tokens > 0


def test_models_list(server):
    models = {m.id: m for m in client_for(server).models.list()}
    assert "lumen-tiny" in models
    assert models["lumen-tiny"].model_extra["available"] is True
    assert models["broken-model"].model_extra["available"] is False
    assert models["broken-model"].model_extra["reason"]


def test_bad_request_names_param(server):
    c = client_for(server)
    with pytest.raises(openai.BadRequestError) as e:
        c.images.generate(prompt="x", n=1000)
    assert e.value.param == "n"
    with pytest.raises(openai.BadRequestError) as e:
        c.images.generate(prompt="x", size="99999x99999")
    assert e.value.param == "size"
    with pytest.raises(openai.BadRequestError) as e:
        c.images.generate(prompt="x", background="transparent")
    assert e.value.param == "background"


def test_not_found(server):
    with pytest.raises(openai.NotFoundError) as e:
        client_for(server).images.generate(prompt="x", model="no-such-model")
    assert e.value.code == "model_not_found"


def test_too_large(server):
    with pytest.raises(openai.APIStatusError) as e:
        client_for(server).images.generate(prompt="a" * (10 << 20))
    assert e.value.status_code == 413


def test_unavailable_model_is_503(server):
    with pytest.raises(openai.InternalServerError) as e:
        client_for(server).images.generate(prompt="x", model="broken-model")
    assert e.value.status_code == 503


def test_authentication(make_server):
    s = make_server(built_in=TINY_SD, args=["--api-key", "sk-right"]).start()
    with pytest.raises(openai.AuthenticationError):
        client_for(s, key="sk-wrong").images.generate(prompt="x")
    r = client_for(s, key="sk-right").images.generate(prompt="x")
    assert len(r.data) == 1


def test_rate_limited(make_server):
    s = make_server(built_in=TINY_SD, args=["--queue-depth", "1"]).start()
    # One long job runs, one waits; the third is refused with 429 and Retry-After.
    status, _, running = s.request("POST", "/v1/lumen/jobs", {"prompt": "a", "steps": 150})
    assert status == 202
    s.request("POST", "/v1/lumen/jobs", {"prompt": "b", "steps": 150})
    with pytest.raises(openai.RateLimitError) as e:
        client_for(s).images.generate(prompt="c")
    assert int(e.value.response.headers["retry-after"]) >= 1
    s.request("DELETE", f"/v1/lumen/jobs/{running['id']}")
