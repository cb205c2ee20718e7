"""Schemathesis hooks for scripts/schemathesis.sh: a check that a rejected
write changes nothing.

For every POST, PUT, PATCH or DELETE, before_call takes a snapshot of the
admin API's state, as its listings show it: subscriptions, sources, event
types, every source's entity aliases and the replays. When the answer is
not a 2xx, the check `rejected_write_changes_nothing` takes the snapshot
again and fails on any difference. Schemathesis must run with one worker
(--workers 1): a parallel request could change the state in between.

The admin URL and bearer token come from SURGE_CONTRACT_ADMIN_URL and
SURGE_CONTRACT_ADMIN_TOKEN.
"""

import json
import os

import requests
import schemathesis

WRITES = {"POST", "PUT", "PATCH", "DELETE"}

_admin = os.environ["SURGE_CONTRACT_ADMIN_URL"].rstrip("/")
_http = requests.Session()
_http.headers["Authorization"] = "Bearer " + os.environ["SURGE_CONTRACT_ADMIN_TOKEN"]

# The case whose write is in flight and the state before it. One worker
# means one request at a time.
_pending = {"case": None, "before": None}


def _get(path):
    r = _http.get(_admin + path, timeout=10)
    if r.status_code != 200:
        raise AssertionError(f"snapshot: GET {path} answered {r.status_code}: {r.text[:200]}")
    return r.json()


def snapshot():
    """The state every listing of the admin API shows."""
    sources = _get("/v1/sources")["sources"]
    aliases = {}
    for s in sources:
        path = "/v1/sources/" + requests.utils.quote(s["id"], safe="") + "/aliases"
        aliases[s["id"]] = _get(path)["aliases"]
    # A replay's progress moves on its own; what a request can add or
    # change is which replays exist and what they select.
    replays = sorted(
        (r["id"], json.dumps(r.get("selection"), sort_keys=True)) for r in _get("/v1/dlq/replays")["replays"]
    )
    return {
        "subscriptions": _get("/v1/subscriptions")["subscriptions"],
        "sources": sources,
        "event_types": _get("/v1/event-types")["event_types"],
        "aliases": aliases,
        "replays": replays,
    }


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.method.upper() in WRITES:
        _pending["case"], _pending["before"] = case, snapshot()
    else:
        _pending["case"], _pending["before"] = None, None


def _items(v):
    """The entries of a listing (or of every source's alias list), as JSON."""
    if isinstance(v, dict):
        return {json.dumps([k, x], sort_keys=True) for k, xs in v.items() for x in xs}
    return {json.dumps(x, sort_keys=True) for x in v}


def _diff(before, after):
    """One line per listing that changed: what appeared and what went."""
    out = []
    for key in before:
        if before[key] == after[key]:
            continue
        b, a = _items(before[key]), _items(after[key])
        added, removed = sorted(a - b), sorted(b - a)
        out.append(f"{key}: added {'; '.join(added)[:800] or 'nothing'}; removed {'; '.join(removed)[:800] or 'nothing'}")
    return out


@schemathesis.check
def rejected_write_changes_nothing(ctx, response, case):
    if case.method.upper() not in WRITES or 200 <= response.status_code < 300:
        return None
    if _pending["case"] is not case or _pending["before"] is None:
        return None  # no snapshot of this call (a replay of a stored case)
    changed = _diff(_pending["before"], snapshot())
    if changed:
        raise AssertionError(
            f"{case.method.upper()} {case.formatted_path} was refused with {response.status_code} "
            "but the state changed:\n" + "\n".join(changed)
        )
    return None
