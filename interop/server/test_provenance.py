"""Lumen's provenance marks read by outside tools: c2pa-python (C2PA validation), exiftool (IPTC
DigitalSourceType) and invisible-watermark's dwtDct decoder; region policy through the openai client."""
import base64
import json
import os
import subprocess
import sys
import tempfile
import types
import uuid
from pathlib import Path

import c2pa
import cv2
import openai
import pytest
from openai import OpenAI

sys.modules.setdefault("torch", types.ModuleType("torch"))  # imwatermark imports torch for RivaGAN only
from imwatermark import WatermarkDecoder  # noqa: E402

from conftest import LUMEN, TINY_SD2  # noqa: E402

SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


def c2pa_state(path, anchor=None):
    settings = {"verify": {"verify_trust": True}}
    if anchor:
        settings["trust"] = {"trust_anchors": Path(anchor).read_text()}
    reader = c2pa.Reader(str(path), context=c2pa.Context(settings=c2pa.Settings.from_dict(settings)))
    results = reader.get_validation_results() or {}
    failures = [f["code"] for f in results.get("activeManifest", {}).get("failure", [])]
    return reader.get_validation_state(), failures, json.loads(reader.json())


def assert_credentials(path, anchor):
    state, failures, manifest = c2pa_state(path)
    assert state == "Valid" and failures == ["signingCredential.untrusted"], (path, state, failures)
    state, failures, _ = c2pa_state(path, anchor)
    assert state == "Trusted" and failures == [], (path, state, failures)
    active = manifest["manifests"][manifest["active_manifest"]]
    actions = next(a for a in active["assertions"] if a["label"].startswith("c2pa.actions"))["data"]["actions"]
    assert actions[0]["action"] == "c2pa.created"
    assert actions[0]["digitalSourceType"] == SOURCE_TYPE
    assert actions[0]["softwareAgent"]["name"] == "Lumen"


def exif_source_type(path):
    return subprocess.run(["exiftool", "-s3", "-XMP-iptcExt:DigitalSourceType", str(path)], capture_output=True, text=True).stdout.strip()


def watermark_bit_errors(path):
    """Bit errors of the dwtDct decoder against the payload Lumen wrote (tag 0x4C6D + picture id)."""
    out = subprocess.run([str(LUMEN), "verify", "--json", str(path)], capture_output=True, text=True)
    iid = json.loads(out.stdout)["xmp"]["instance_id"].removeprefix("xmp:iid:")
    picture = int.from_bytes(uuid.UUID(iid).bytes[:4], "little")
    expected = [(((0x4C6D << 32) | picture) >> (47 - i)) & 1 for i in range(48)]
    bits = WatermarkDecoder("bits", 48).decode(cv2.imread(str(path)), "dwtDct")
    return sum(int(a) != b for a, b in zip(bits, expected))


def tamper(path):
    """Changes one byte of the picture data after signing: inside IDAT (PNG), the scan (JPEG) or
    the VP8 bitstream (WebP), outside any metadata."""
    data = bytearray(Path(path).read_bytes())
    if data.startswith(b"\x89PNG"):
        data[data.index(b"IDAT") + 10] ^= 0x5A
    elif data.startswith(b"RIFF"):
        start = data.find(b"VP8 ") if b"VP8 " in data else data.find(b"VP8L")
        data[start + 20] ^= 0x5A
    else:
        data[-64] ^= 0x5A
    out = Path(str(path) + ".tampered" + Path(path).suffix)
    out.write_bytes(bytes(data))
    return out


@pytest.fixture(scope="module")
def cli_pictures():
    d = Path(tempfile.mkdtemp(prefix="lumen-prov-"))
    data = d / "data"
    made = []
    for name, extra in (("small.png", []), ("small.jpg", []), ("small.webp", []),
                        ("big.png", ["-m", str(TINY_SD2), "-W", "256", "-H", "256", "--steps", "1"]),
                        ("big.jpg", ["-m", str(TINY_SD2), "-W", "256", "-H", "256", "--steps", "1", "--quality", "90"])):
        subprocess.run([str(LUMEN), "generate", "a red cube on grass at sunset", "--seed", "3", "--data", str(data),
                        "-o", str(d / name), "-q", *extra], check=True)
        made.append(d / name)
    return d, made, data / "keys" / "root-ca.pem"


def test_cli_pictures_validate_with_c2pa_python(cli_pictures):
    _, made, anchor = cli_pictures
    for p in made:
        assert_credentials(p, anchor)


def test_exiftool_reads_digital_source_type(cli_pictures):
    _, made, _ = cli_pictures
    for p in made:  # PNG iTXt, JPEG APP1, WebP "XMP " chunk
        assert exif_source_type(p) == SOURCE_TYPE


def test_watermark_zero_bit_errors_png_and_jpeg_q90(cli_pictures):
    d, _, _ = cli_pictures
    assert watermark_bit_errors(d / "big.png") == 0
    assert watermark_bit_errors(d / "big.jpg") == 0


def test_tampering_is_reported_by_c2pa_python_and_lumen_verify(cli_pictures):
    _, made, anchor = cli_pictures
    for p in made:
        t = tamper(p)
        state, failures, _ = c2pa_state(t, anchor)
        assert state == "Invalid" and "assertion.dataHash.mismatch" in failures, (t, state, failures)
        out = subprocess.run([str(LUMEN), "verify", "--json", "--trust", str(anchor), str(t)], capture_output=True, text=True)
        assert out.returncode == 1
        assert "assertion.dataHash.mismatch" in json.loads(out.stdout)["c2pa"]["failures"]


@pytest.fixture(scope="module")
def big_model():
    """tiny-sd2 offered at 256×256 (through lumen_defaults.json), big enough for the watermark."""
    d = Path(tempfile.mkdtemp(prefix="lumen-models-"))
    m = d / "tiny-256"
    m.mkdir()
    for entry in TINY_SD2.iterdir():
        (m / entry.name).symlink_to(entry)
    (m / "lumen_defaults.json").write_text(json.dumps({"steps": 1, "guidance": 1.0, "sizes": ["256x256"]}))
    return d


def test_server_pictures_carry_all_marks(make_server, big_model):
    s = make_server(models=big_model).start()
    client = OpenAI(base_url=s.url + "/v1", api_key="x", max_retries=0)
    anchor = Path(s.data) / "keys" / "root-ca.pem"
    out = Path(tempfile.mkdtemp(prefix="lumen-server-pics-"))
    for model, fmt in (("lumen-tiny", "png"), ("lumen-tiny", "jpeg"), ("lumen-tiny", "webp"), ("tiny-256", "png"), ("tiny-256", "jpeg")):
        kw = {"output_compression": 90} if fmt == "jpeg" else {}
        r = client.images.generate(model=model, prompt="a lake at golden hour", output_format=fmt, **kw)
        path = out / f"{model}.{fmt}"
        path.write_bytes(base64.b64decode(r.data[0].b64_json))
        assert_credentials(path, anchor)
        assert exif_source_type(path) == SOURCE_TYPE
        if model == "tiny-256":
            assert watermark_bit_errors(path) == 0
        state, failures, _ = c2pa_state(tamper(path), anchor)
        assert state == "Invalid" and "assertion.dataHash.mismatch" in failures


def test_withheld_model_gets_451_and_works_elsewhere(make_server, tmp_path):
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"models": {"lumen-tiny": {"withheld": ["EU"], "reason": "not yet assessed"}}}))
    s = make_server(args=["--region-policy", str(policy), "--region-header", "X-Region"]).start()
    eu = OpenAI(base_url=s.url + "/v1", api_key="x", max_retries=0, default_headers={"X-Region": "DE"})
    with pytest.raises(openai.APIStatusError) as e:
        eu.images.generate(prompt="a cube")
    assert e.value.status_code == 451
    assert "not offered in region DE" in e.value.message and "not yet assessed" in e.value.message
    us = OpenAI(base_url=s.url + "/v1", api_key="x", max_retries=0, default_headers={"X-Region": "US"})
    assert len(us.images.generate(prompt="a cube").data) == 1


def test_time_stamped_credentials(tmp_path):
    """--tsa-url: the signature carries an RFC 3161 token (sigTst2) that c2pa-python accepts."""
    from tsa import TimeStampAuthority
    tsa = TimeStampAuthority()
    try:
        data = tmp_path / "data"
        out = tmp_path / "stamped.png"
        subprocess.run([str(LUMEN), "generate", "a lake at dawn", "--data", str(data), "-o", str(out), "-q", "--tsa-url", tsa.url],
                       check=True)
        assert tsa.requests >= 1
        anchors = tmp_path / "anchors.pem"
        anchors.write_text((data / "keys" / "root-ca.pem").read_text() + tsa.root.read_text())
        state, failures, _ = c2pa_state(out, anchors)
        assert state == "Trusted" and failures == [], (state, failures)
        report = json.loads(subprocess.run([str(LUMEN), "verify", "--json", str(out)], capture_output=True, text=True).stdout)
        assert "timeStamp.validated" in report["c2pa"]["successes"]
        assert report["c2pa"]["time_stamp"]
        # An unreachable TSA is a clear error, not an unsigned picture.
        bad = subprocess.run([str(LUMEN), "generate", "x", "--data", str(data), "-o", str(tmp_path / "no.png"), "-q",
                              "--tsa-url", "http://127.0.0.1:9/"], capture_output=True, text=True)
        assert bad.returncode == 1 and "time-stamp authority" in bad.stderr
        assert not (tmp_path / "no.png").exists()
    finally:
        tsa.stop()
