"""A local RFC 3161 time-stamp authority for tests: OpenSSL's `openssl ts -reply` behind a tiny
HTTP server, with its own test CA (the TSA certificate has the critical timeStamping EKU)."""
import http.server
import subprocess
import tempfile
import threading
from pathlib import Path

CONFIG = """
[tsa]
default_tsa = tsa1
[tsa1]
dir = {dir}
serial = {dir}/serial
crypto_device = builtin
signer_cert = {dir}/tsa.pem
certs = {dir}/tsa-ca.pem
signer_key = {dir}/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256
accuracy = secs:1
ordering = no
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def run(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


class TimeStampAuthority:
    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="lumen-tsa-"))
        d = self.dir
        run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "tsa-ca.key",
            "-out", "tsa-ca.pem", "-days", "30", "-subj", "/CN=Lumen test TSA root",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
        run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "tsa.key", "-out", "tsa.csr",
            "-subj", "/CN=Lumen test TSA", cwd=d)
        (d / "ext.cnf").write_text("extendedKeyUsage=critical,timeStamping\nkeyUsage=critical,digitalSignature\n"
                                   "basicConstraints=CA:FALSE\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
        run("x509", "-req", "-in", "tsa.csr", "-CA", "tsa-ca.pem", "-CAkey", "tsa-ca.key", "-CAcreateserial", "-out", "tsa.pem",
            "-days", "30", "-extfile", "ext.cnf", cwd=d)
        (d / "serial").write_text("01\n")
        (d / "tsa.cnf").write_text(CONFIG.format(dir=d))
        self.requests = 0
        tsa = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                query = self.rfile.read(int(self.headers["Content-Length"]))
                with tempfile.TemporaryDirectory() as t:
                    (Path(t) / "q.tsq").write_bytes(query)
                    subprocess.run(["openssl", "ts", "-reply", "-config", str(d / "tsa.cnf"), "-queryfile", "q.tsq",
                                    "-out", "r.tsr"], cwd=t, check=True, capture_output=True)
                    reply = (Path(t) / "r.tsr").read_bytes()
                tsa.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.root = d / "tsa-ca.pem"

    def stop(self):
        self.server.shutdown()
