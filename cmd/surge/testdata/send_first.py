"""Posts bodies the way Python's urllib does: the whole body first, the
answer read only after it. Driven by cmd/surge/bigbody_test.go.

Reads one JSON object on stdin:
  {"url": ..., "headers": {...}, "prefix": ..., "suffix": ...,
   "sizes": [bytes, ...], "tries": N, "chunked": false}
and prints one JSON line per try:
  {"size", "try", "chunked", "status", "content_type", "body", "error", "seconds"}
where status/body are the HTTP answer and error names the exception a
try ended with instead (ConnectionResetError, BrokenPipeError, ...).
"""

import json
import sys
import time
import urllib.error
import urllib.request

CHUNK = 64 << 10


def body_of(size, prefix, suffix):
    pad = size - len(prefix) - len(suffix)
    return prefix + b"x" * pad + suffix


def chunks(body):
    for i in range(0, len(body), CHUNK):
        yield body[i:i + CHUNK]


def post(cfg, body, chunked):
    data = chunks(body) if chunked else body
    req = urllib.request.Request(cfg["url"], data=data, method="POST", headers=cfg.get("headers", {}))
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read().decode(), None
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode(), None
    except urllib.error.URLError as e:
        reason = e.reason
        return None, None, None, f"{type(reason).__name__}: {reason}"
    except OSError as e:
        return None, None, None, f"{type(e).__name__}: {e}"


def main():
    cfg = json.load(sys.stdin)
    prefix, suffix = cfg["prefix"].encode(), cfg["suffix"].encode()
    chunked = cfg.get("chunked", False)
    for size in cfg["sizes"]:
        body = body_of(size, prefix, suffix)
        for i in range(cfg["tries"]):
            start = time.monotonic()
            status, ctype, text, err = post(cfg, body, chunked)
            print(json.dumps({"size": size, "try": i, "chunked": chunked, "status": status,
                              "content_type": ctype, "body": text, "error": err,
                              "seconds": round(time.monotonic() - start, 3)}), flush=True)


if __name__ == "__main__":
    main()
