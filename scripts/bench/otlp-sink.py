#!/usr/bin/env python3
"""otlp-sink.py: an OTLP/HTTP receiver on loopback that reads and discards
every export (POST /v1/traces) and answers an empty, successful
ExportTraceServiceResponse, so a benchmark pays for exporting spans but
not for storing them. Standard library only.

    scripts/bench/otlp-sink.py 127.0.0.1:18318

On SIGINT or SIGTERM it prints one line: the export requests and bytes it
received (a run at 100 % sampling that received nothing exported nothing).
"""
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

counts = {"requests": 0, "bytes": 0}
lock = threading.Lock()


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the exporter expects

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        with lock:
            counts["requests"] += 1
            counts["bytes"] += len(body)
        self.send_response(200 if self.path == "/v1/traces" else 404)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    host, port = (sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:18318").rsplit(":", 1)
    server = ThreadingHTTPServer((host, int(port)), Sink)

    def stop(*_):
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    server.serve_forever()
    print(f"otlp-sink: {counts['requests']} export requests, {counts['bytes']} bytes", flush=True)


if __name__ == "__main__":
    main()
