"""A webhook receiver for the kill -9 delivery test.

Every request is checked with the standardwebhooks package from PyPI (the reference
implementation of the spec, independent of Trailkeep's signer) and logged, one JSON line per
request: its webhook-id, type, the seqs it carried, and whether the signature verified.
Answers 200 once verified, 401 when not, 503 before the secret file exists.

Usage: python webhook_receiver.py SECRET_FILE LOG_FILE PORT_FILE DELAY_MS
"""

import http.server
import json
import os
import sys
import time

from standardwebhooks import Webhook

SECRET_FILE, LOG_FILE, PORT_FILE, DELAY_MS = sys.argv[1:5]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        if not os.path.exists(SECRET_FILE):
            self.answer(503)
            return
        with open(SECRET_FILE) as f:
            secret = f.read().strip()
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            Webhook(secret).verify(body, headers)
            verified, error = True, None
        except Exception as e:  # any failure to verify is recorded, not raised
            verified, error = False, repr(e)
        payload = json.loads(body)
        line = {
            "id": headers.get("webhook-id"),
            "type": payload.get("type"),
            "seqs": [e["seq"] for e in payload.get("data", {}).get("events", [])],
            "verified": verified,
            "error": error,
        }
        with open(LOG_FILE, "a") as f:
            f.write(json.dumps(line) + "\n")
        time.sleep(int(DELAY_MS) / 1000)
        self.answer(200 if verified else 401)

    def answer(self, status):
        try:
            self.send_response(status)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server was killed while waiting: it sends the message again

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
with open(PORT_FILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(PORT_FILE + ".tmp", PORT_FILE)
server.serve_forever()
