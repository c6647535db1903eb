"""Webhook delivery end to end, for .ci/contract-check: a real server's embedded
worker delivers to .ci/webhook-receiver.py on 127.0.0.1, which verifies every
request with the Standard Webhooks reference library.

Registers an endpoint for the publisher and one for the subscriber (each secret
handed to the receiver), makes a pack, shares it, installs it, releases it
(scheduled then canceled, then at once), rotates the subscriber's secret and
sends each endpoint a test, redelivers one delivery; then waits until every
delivery of both accounts is `succeeded` through the API and checks that:
  - the receiver verified every request (no failures), and got every delivery's
    event id at the right endpoint;
  - each side got the event types it should (and only those);
  - the test sent after the rotation verifies with the old and the new secret;
  - a redelivery carries the same webhook-id;
  - each body equals the feed item with that id (GET /accounts/{id}/events);
  - the receiver refuses a forged signature (so "no failures" means something).

Usage: python delivery-check.py BASE RECEIVER PUB_ID PUB_TOKEN SUB_ID SUB_TOKEN GROUP_ID SEEDS_JSON
Writes ids for the fuzzer to SEEDS_JSON. Exits non-zero on the first failure.
"""

import base64
import datetime
import json
import sys
import time
import urllib.error
import urllib.request
import uuid

from standardwebhooks.webhooks import Webhook

BASE, RECEIVER, PUB, PUB_TOKEN, SUB, SUB_TOKEN, GROUP, SEEDS = sys.argv[1:9]
WAIT_SECONDS = 90


def fail(message):
    sys.exit(f"delivery-check: FAILED: {message}")


def log(message):
    print(f"ci: contract: delivery: {message}", flush=True)


def request(url, method="GET", body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            raw = response.read()
            return response.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        return e.code, e.read()[:1000]


def api(token, method, path, body=None, expect=(200, 201)):
    status, answer = request(f"{BASE}/api/v1{path}", method, body, {"authorization": f"Bearer {token}"})
    if status not in expect:
        fail(f"{method} {path} answered {status}: {answer!r}")
    return answer


def pages(token, path):
    """Every item of a cursor-paged list."""
    items, cursor = [], None
    while True:
        sep = "&" if "?" in path else "?"
        page = api(token, "GET", f"{path}{sep}limit=200" + (f"&cursor={cursor}" if cursor else ""))
        items += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return items


def feed(token, account):
    """The account's whole feed, by event id, paging with `after` until a page is empty."""
    events, after = {}, "0"
    for _ in range(1000):
        page = api(token, "GET", f"/accounts/{account}/events?limit=200&after={after}")
        for item in page["items"]:
            events[item["id"]] = item
        if not page["items"]:
            return events
        after = page["next_cursor"]
    fail("the feed never ended")


def receiver(method, path, body=None, headers=None):
    return request(f"{RECEIVER}{path}", method, body, headers)


# The receiver takes a correctly signed request and refuses a forged signature.
def post_raw(path, data, headers):
    req = urllib.request.Request(f"{RECEIVER}{path}", data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


probe_secret = "whsec_" + base64.b64encode(uuid.uuid4().bytes * 2).decode()
receiver("POST", "/secrets/probe", {"secret": probe_secret})
now = datetime.datetime.now(tz=datetime.timezone.utc)
probe_body = '{"probe":true}'
probe_headers = {"webhook-id": "msg_probe", "webhook-timestamp": str(int(now.timestamp())), "content-type": "application/json"}
signed = Webhook(probe_secret).sign("msg_probe", now, probe_body)
if post_raw("/hooks/probe", probe_body.encode(), {**probe_headers, "webhook-signature": signed}) != 204:
    fail("the receiver refused a correctly signed request")
forged = "v1," + base64.b64encode(b"\0" * 32).decode()
if post_raw("/hooks/probe", probe_body.encode(), {**probe_headers, "webhook-signature": forged}) != 401:
    fail("the receiver accepted a forged signature")
if post_raw("/hooks/probe", b'{"probe":false}', {**probe_headers, "webhook-signature": signed}) != 401:
    fail("the receiver accepted a signature of another body")


# Endpoints: each account registers one pointing at the receiver; each secret goes to the receiver.
endpoints, secrets = {}, {}
for side, account, token in (("publisher", PUB, PUB_TOKEN), ("subscriber", SUB, SUB_TOKEN)):
    created = api(token, "POST", f"/accounts/{account}/webhook-endpoints",
                  {"url": f"{RECEIVER}/hooks/{side}", "description": f"contract check ({side})"}, expect=(201,))
    if not created["secret"].startswith("whsec_") or not created["enabled"]:
        fail(f"the {side}'s endpoint: {created!r}")
    status, answer = receiver("POST", f"/secrets/{side}", {"secret": created["secret"]})
    if status != 200:
        fail(f"the receiver did not take the {side}'s secret: {status} {answer!r}")
    endpoints[side], secrets[side] = created["id"], [created["secret"]]
    listed = api(token, "GET", f"/accounts/{account}/webhook-endpoints")
    if any("secret" in e for e in listed["items"]) or created["id"] not in [e["id"] for e in listed["items"]]:
        fail(f"the {side}'s endpoint list: {listed!r}")
pub_types = set(api(PUB_TOKEN, "GET", f"/accounts/{PUB}/webhook-endpoints/{endpoints['publisher']}")["event_types"])
sub_types = set(api(SUB_TOKEN, "GET", f"/accounts/{SUB}/webhook-endpoints/{endpoints['subscriber']}")["event_types"])
if not pub_types or any(not t.startswith("release.") for t in pub_types):
    fail(f"the publisher's endpoint defaults to {sorted(pub_types)}")
if not sub_types or any(not t.startswith("installation.") for t in sub_types):
    fail(f"the subscriber's endpoint defaults to {sorted(sub_types)}")
log(f"endpoints registered: publisher {endpoints['publisher']} {sorted(pub_types)}, "
    f"subscriber {endpoints['subscriber']} {sorted(sub_types)}")

# A pack of its own, shared with the subscriber's group, released, installed, then
# a dated release that is canceled, then one at once.
tag = uuid.uuid4().hex[:8]
component = api(PUB_TOKEN, "POST", "/components", {"name": f"Hooks {tag}", "type": "process"})["id"]
api(PUB_TOKEN, "POST", f"/components/{component}/versions", {"version": "1.0.0"})
pack = api(PUB_TOKEN, "POST", "/integration-packs",
           {"name": f"Hooks {tag}", "description": "delivery check", "installation_type": "single"})["id"]
api(PUB_TOKEN, "POST", f"/integration-packs/{pack}/components", {"component_id": component})
draft = api(PUB_TOKEN, "POST", f"/integration-packs/{pack}/release-drafts")["id"]
first = api(PUB_TOKEN, "POST", f"/release-drafts/{draft}/release", {"schedule": "immediately"})["id"]
api(PUB_TOKEN, "POST", f"/account-groups/{GROUP}/integration-packs", {"integration_pack_id": pack})
installation = api(SUB_TOKEN, "POST", f"/accounts/{SUB}/installations", {"integration_pack_id": pack})["id"]
api(PUB_TOKEN, "POST", f"/components/{component}/versions", {"version": "1.1.0"})
draft = api(PUB_TOKEN, "POST", f"/integration-packs/{pack}/release-drafts")["id"]
on = (datetime.date.today() + datetime.timedelta(days=5)).isoformat()
dated = api(PUB_TOKEN, "POST", f"/release-drafts/{draft}/release", {"schedule": "on_date", "release_on": on})["id"]
api(PUB_TOKEN, "POST", f"/releases/{dated}/cancel")
draft = api(PUB_TOKEN, "POST", f"/integration-packs/{pack}/release-drafts")["id"]
released = api(PUB_TOKEN, "POST", f"/release-drafts/{draft}/release", {"schedule": "immediately"})
if released["status"] != "released":
    fail(f"the release: {released!r}")
log(f"pack {pack}: released {first}, scheduled and canceled {dated}, released {released['id']}; installation {installation}")

# Rotate the subscriber's secret (the old one keeps signing), then a test to each endpoint.
rotated = api(SUB_TOKEN, "POST", f"/accounts/{SUB}/webhook-endpoints/{endpoints['subscriber']}/rotate-secret")
if rotated["secret"] == secrets["subscriber"][0] or not rotated["endpoint"]["previous_secret_expires_at"]:
    fail(f"the rotation: {rotated['endpoint']!r}")
receiver("POST", "/secrets/subscriber", {"secret": rotated["secret"]})
secrets["subscriber"].append(rotated["secret"])
tests = {}
for side, account, token in (("publisher", PUB, PUB_TOKEN), ("subscriber", SUB, SUB_TOKEN)):
    delivery = api(token, "POST", f"/accounts/{account}/webhook-endpoints/{endpoints[side]}/test", expect=(201,))
    if delivery["event_type"] != "webhook.test" or not delivery["id"].startswith("dlv_"):
        fail(f"the {side}'s test send: {delivery!r}")
    tests[side] = delivery


def settled(token, account, side):
    deliveries = pages(token, f"/accounts/{account}/webhook-deliveries?endpoint_id={endpoints[side]}")
    return deliveries, all(d["status"] == "succeeded" for d in deliveries)


def wait_for_success(what, expected_counts):
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        pub_d, pub_ok = settled(PUB_TOKEN, PUB, "publisher")
        sub_d, sub_ok = settled(SUB_TOKEN, SUB, "subscriber")
        counts = (len(pub_d), len(sub_d))
        if pub_ok and sub_ok and all(c >= e for c, e in zip(counts, expected_counts)):
            return pub_d, sub_d
        bad = [d for d in pub_d + sub_d if d["status"] in ("failed", "canceled")]
        if bad or time.monotonic() > deadline:
            late = [d for d in pub_d + sub_d if d["status"] != "succeeded"]
            fail(f"{what}: not every delivery succeeded within {WAIT_SECONDS} s "
                 f"(deliveries publisher/subscriber {counts}, expected at least {expected_counts}): "
                 + json.dumps(late, indent=1)[:4000])
        time.sleep(0.3)


# publisher: release.released x2, release.scheduled, release.canceled, webhook.test;
# subscriber: installation.update_scheduled, .update_canceled, .updated, webhook.test.
pub_deliveries, sub_deliveries = wait_for_success("first deliveries", (5, 4))
log(f"every delivery succeeded: {len(pub_deliveries)} to the publisher, {len(sub_deliveries)} to the subscriber")

# A redelivery is a new attempt of the same delivery, with the same webhook-id.
updated = next((d for d in sub_deliveries if d["event_type"] == "installation.updated"), None)
if updated is None:
    fail(f"no installation.updated delivery: {[d['event_type'] for d in sub_deliveries]}")
again = api(SUB_TOKEN, "POST", f"/webhook-deliveries/{updated['id']}/redeliver")
if again["id"] != updated["id"] or again["event_id"] != updated["event_id"]:
    fail(f"the redelivery: {again!r}")
deadline = time.monotonic() + WAIT_SECONDS
while True:
    read = api(SUB_TOKEN, "GET", f"/webhook-deliveries/{updated['id']}")
    if read["status"] == "succeeded" and len(read["attempts"]) >= 2:
        break
    if read["status"] == "failed" or time.monotonic() > deadline:
        fail(f"the redelivery did not succeed: {read!r}")
    time.sleep(0.3)
if any(a["status_code"] != 204 or a["error"] is not None for a in read["attempts"]):
    fail(f"an attempt of {updated['id']} was not a clean 204: {read['attempts']!r}")
pub_deliveries, sub_deliveries = wait_for_success("after the redelivery", (5, 4))

# What the receiver saw.
state = receiver("GET", "/state")[1]
problems = []
for side, deliveries, account, token, wanted in (
    ("publisher", pub_deliveries, PUB, PUB_TOKEN,
     ["release.canceled", "release.released", "release.released", "release.scheduled", "webhook.test"]),
    ("subscriber", sub_deliveries, SUB, SUB_TOKEN,
     ["installation.update_canceled", "installation.update_scheduled", "installation.updated", "webhook.test"]),
):
    hook = state["hooks"].get(side, {"received": [], "failures": []})
    for failure in hook["failures"]:
        problems.append(f"{side}: a request failed verification: {json.dumps(failure)[:1000]}")
    got = sorted(d["event_type"] for d in deliveries)
    if got != wanted:
        problems.append(f"{side}: deliveries of {got}, expected {wanted}")
    events = feed(token, account)
    received = {}
    for record in hook["received"]:
        received.setdefault(record["webhook_id"], []).append(record)
    for d in deliveries:
        records = received.get(d["event_id"])
        if not records:
            problems.append(f"{side}: delivery {d['id']} ({d['event_type']}, event {d['event_id']}) never reached the receiver")
            continue
        if d["endpoint_id"] != endpoints[side]:
            problems.append(f"{side}: delivery {d['id']} is for endpoint {d['endpoint_id']}")
        if len(records) < len(d["attempts"]):
            problems.append(f"{side}: {d['id']} has {len(d['attempts'])} attempts, the receiver saw {len(records)}")
        item = events.get(d["event_id"])
        if item is None:
            problems.append(f"{side}: event {d['event_id']} is not in the feed")
            continue
        for record in records:
            if json.loads(record["body"]) != item:
                problems.append(f"{side}: the body of {d['event_id']} differs from its feed item:\n"
                                f"  body: {record['body'][:800]}\n  feed: {json.dumps(item)[:800]}")
            if not (record["content_type"] or "").startswith("application/json"):
                problems.append(f"{side}: {d['event_id']} came as {record['content_type']!r}")
    # The test sent after the rotation is signed with both secrets; earlier ones with the first.
    if side == "subscriber":
        test = received.get(tests[side]["event_id"], [])
        if not test or any(r["verified_with"] != [0, 1] or len(r["signatures"]) != 2 for r in test):
            problems.append(f"subscriber: the test after the rotation is not signed with both secrets: "
                            f"{[(r['verified_with'], r['signatures']) for r in test]}")
    redelivered = received.get(updated["event_id"], []) if side == "subscriber" else []
    if side == "subscriber" and len(redelivered) < 2:
        problems.append(f"subscriber: the redelivery of {updated['event_id']} did not arrive with the same webhook-id")
    log(f"{side}: {len(hook['received'])} requests verified, {len(hook['failures'])} failed, "
        f"{len(deliveries)} deliveries: {', '.join(got)}")

# Per release: the deliveries of the last release to these endpoints (both sides' events of it).
per_release = [d for d in pages(PUB_TOKEN, f"/releases/{released['id']}/deliveries")
               if d["endpoint_id"] in endpoints.values()]
if sorted(d["event_type"] for d in per_release) != ["installation.updated", "release.released"] \
        or any(d["status"] != "succeeded" for d in per_release):
    problems.append(f"GET /releases/{released['id']}/deliveries: "
                    f"{[(d['event_type'], d['status']) for d in per_release]}")

if problems:
    fail("\n  ".join([""] + problems))

# Seeds for the fuzzer: ids it cannot guess, and cursors into the feeds.
cursors = ["0"]
for token, account in ((PUB_TOKEN, PUB), (SUB_TOKEN, SUB)):
    cursors.append(api(token, "GET", f"/accounts/{account}/events?limit=1")["next_cursor"])
with open(SEEDS, "w") as f:
    json.dump({
        "endpoints": [endpoints["publisher"], endpoints["subscriber"]],
        "deliveries": sorted({d["id"] for d in pub_deliveries + sub_deliveries}),
        "cursors": cursors,
        "releases": [first, dated, released["id"]],
        "event_types": sorted(pub_types | sub_types | {"webhook.test"}),
    }, f)
log("passed: every request verified (Standard Webhooks), every delivery arrived once per attempt, "
    "bodies equal to the feed, rotation signs with both secrets, redelivery keeps the webhook-id")
