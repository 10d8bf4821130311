"""The job queue under load, at its bound, and across a SIGKILL."""
import time
from concurrent.futures import ThreadPoolExecutor

from openai import OpenAI

from conftest import TINY_SD, Server


def wait_all(server, ids, timeout=600):
    """Polls until every job has finished; returns {id: job}."""
    deadline, done = time.time() + timeout, {}
    while time.time() < deadline and len(done) < len(ids):
        for i in ids:
            if i not in done:
                status, _, job = server.request("GET", f"/v1/lumen/jobs/{i}")
                assert status == 200
                if job["status"] in ("succeeded", "failed", "cancelled"):
                    done[i] = job
        time.sleep(0.2)
    return done


def test_twenty_clients_four_pictures_each(make_server):
    s = make_server(built_in=TINY_SD).start()

    def one_client(k):
        c = OpenAI(base_url=s.url + "/v1", api_key="x", max_retries=0, timeout=600)
        r = c.images.generate(prompt=f"client {k} asks for a cube", n=4, user=f"user-{k}", extra_body={"seed": k})
        return [d.b64_json for d in r.data]

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(one_client, range(20)))
    assert all(len(r) == 4 for r in results)
    status, _, history = s.request("GET", "/v1/lumen/images?limit=200")
    assert status == 200 and len(history["data"]) == 80
    assert len({i["id"] for i in history["data"]}) == 80


def test_queue_bound_gives_429_with_retry_after(make_server):
    s = make_server(built_in=TINY_SD, args=["--queue-depth", "5"]).start()

    def submit(k):
        return s.request("POST", "/v1/lumen/jobs", {"prompt": f"job {k}", "steps": 20, "user": f"u{k % 3}"})

    with ThreadPoolExecutor(30) as pool:
        answers = list(pool.map(submit, range(30)))
    accepted = [b["id"] for st, _, b in answers if st == 202]
    refused = [(h, b) for st, h, b in answers if st == 429]
    assert len(accepted) + len(refused) == 30
    assert 5 <= len(accepted) < 30 and refused
    for headers, body in refused:
        assert int(headers["Retry-After"]) >= 1
        assert body["error"]["type"] == "rate_limit_error"
    finished = wait_all(s, accepted)
    assert all(finished[i]["status"] == "succeeded" for i in accepted)


def test_sigkill_mid_queue_then_restart_finishes_every_job(make_server):
    s = make_server(built_in=TINY_SD).start()
    ids = []
    for k in range(12):
        status, _, body = s.request("POST", "/v1/lumen/jobs", {"prompt": f"survivor {k}", "steps": 10, "n": 2})
        assert status == 202
        ids.append(body["id"])
    # Kill once some jobs are done and others still wait.
    deadline = time.time() + 300
    while time.time() < deadline:
        statuses = [s.request("GET", f"/v1/lumen/jobs/{i}")[2]["status"] for i in ids]
        if "succeeded" in statuses and "queued" in statuses:
            break
        time.sleep(0.05)
    finished_before = [i for i, st in zip(ids, statuses) if st == "succeeded"]
    assert finished_before and "queued" in statuses
    s.kill()

    again = make_server(data=s.data, built_in=TINY_SD).start()
    done = wait_all(again, ids)
    assert sorted(done) == sorted(ids)
    assert all(done[i]["status"] == "succeeded" and len(done[i]["images"]) == 2 for i in ids)
    # Every picture, from before and after the crash, is still served.
    for i in ids:
        for image in done[i]["images"]:
            status, headers, _ = again.request("GET", image["url"])
            assert status == 200 and headers["Content-Type"] == "image/png"
