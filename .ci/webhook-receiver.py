"""A webhook receiver for .ci/contract-check, on 127.0.0.1 only.

Every POST to /hooks/NAME is verified with the Standard Webhooks reference
library (PyPI `standardwebhooks`) against each secret the script has given for
NAME; a request that no secret verifies is answered 401 and counted as a
failure. Verified requests are recorded with their webhook-id, the secrets
(by index) that verified them, and the raw body.

    POST /secrets/NAME   body {"secret": "whsec_..."}: one more secret for NAME
    POST /hooks/NAME     a delivery: 204 when verified, 401 otherwise
    POST /sink/...       accepted (204) without checks: where the fuzzer's endpoints point
    GET  /state          everything received, as JSON

Usage: python webhook-receiver.py PORT_FILE   (binds 127.0.0.1:0 and writes the
port to PORT_FILE once it listens). Runs until killed.
"""

import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

LOCK = threading.Lock()
SECRETS = {}  # name -> [secret, ...] in the order given
STATE = {"hooks": {}, "sink": 0}  # name -> {"received": [...], "failures": [...]}


def hook(name):
    return STATE["hooks"].setdefault(name, {"received": [], "failures": []})


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        sys.stderr.write("webhook-receiver: %s %s\n" % (self.address_string(), format % args))

    def answer(self, status, payload=None):
        body = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if payload is not None:
            self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self):
        if self.path == "/state":
            with LOCK:
                self.answer(200, STATE)
        else:
            self.answer(404, {"error": "not found"})

    def do_POST(self):
        body = self.read_body()
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        if parts[0] == "sink":
            with LOCK:
                STATE["sink"] += 1
            return self.answer(204)
        if len(parts) != 2 or parts[0] not in ("secrets", "hooks") or not parts[1]:
            return self.answer(404, {"error": "not found"})
        name = parts[1]
        if parts[0] == "secrets":
            secret = json.loads(body)["secret"]
            Webhook(secret)  # refuses a malformed secret here, not at the first delivery
            with LOCK:
                SECRETS.setdefault(name, []).append(secret)
                return self.answer(200, {"secrets": len(SECRETS[name])})

        headers = {k.lower(): v for k, v in self.headers.items()}
        with LOCK:
            secrets = list(SECRETS.get(name, []))
        verified_with, errors = [], []
        for index, secret in enumerate(secrets):
            try:
                Webhook(secret).verify(body, headers)
                verified_with.append(index)
            except (WebhookVerificationError, ValueError) as e:  # ValueError: a malformed header or body
                errors.append(f"secret {index}: {type(e).__name__}: {e}")
        if not secrets:
            errors.append("no secret known for this hook")
        record = {
            "webhook_id": headers.get("webhook-id"),
            "webhook_timestamp": headers.get("webhook-timestamp"),
            "signatures": (headers.get("webhook-signature") or "").split(),
            "content_type": headers.get("content-type"),
        }
        if verified_with:
            record.update(verified_with=verified_with, body=body.decode("utf-8", "replace"))
            with LOCK:
                hook(name)["received"].append(record)
            return self.answer(204)
        record.update(errors=errors, body=body[:2048].decode("utf-8", "replace"))
        with LOCK:
            hook(name)["failures"].append(record)
        return self.answer(401, {"error": "signature verification failed"})


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_file = sys.argv[1]
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(port_file + ".tmp", port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
