"""The whole packrelease flow through a Python client generated from the served
contract (openapi-python-client), with no hand edits: if the contract misses a
required field, an enum value, a nullable marker, a header or a status code,
the generated models fail to parse or the client raises UnexpectedStatus.

Usage: python client-flow.py BASE_URL ADMIN_TOKEN [RECEIVER_URL]   (the
generated package `packrelease_client` must be importable). With RECEIVER_URL
(a webhook receiver the server may deliver to; .ci/webhook-receiver.py), it
also registers a webhook endpoint there, sends it a test and reads the
delivery and the feed. Exits non-zero on the first failure.
"""

import datetime
import sys
import time
import uuid

from packrelease_client import AuthenticatedClient, Client
from packrelease_client.api.accounts import create_account, create_token, get_account
from packrelease_client.api.account_groups import add_group_member, add_pack, create_group
from packrelease_client.api.components import create_component, create_version, list_versions, update_version
from packrelease_client.api.health import healthz, list_workers
from packrelease_client.api.installations import apply_update, get_installation, install, list_installations
from packrelease_client.api.integration_packs import add_member, create_pack, get_pack, list_members, list_packs, update_pack
from packrelease_client.api.webhooks import (
    create_endpoint,
    get_delivery,
    list_account_deliveries,
    list_endpoints,
    list_events,
    test_endpoint,
)
from packrelease_client.api.releases import (
    cancel_release,
    create_draft,
    get_release,
    list_pushes,
    list_releases,
    release_draft,
    release_latest,
    release_schedule,
    reschedule_release,
    select_versions,
)
from packrelease_client.models import (
    Account,
    AccountGroup,
    AccountKind,
    AddComponent,
    AddGroupMember,
    AddGroupPack,
    Component,
    ComponentType,
    CreateAccount,
    CreateComponent,
    CreatePack,
    CreateToken,
    CreateVersion,
    CreateWebhookEndpoint,
    CreatedToken,
    DeliveryStatus,
    Deployment,
    EventFeed,
    EventType,
    GroupName,
    GroupPack,
    Health,
    Install,
    Installation,
    InstallationList,
    InstallationType,
    IntegrationPack,
    IntegrationPackList,
    PackComponent,
    PackComponentList,
    Problem,
    PushList,
    PushOutcome,
    Release,
    ReleaseDraft,
    ReleaseList,
    ReleaseRequest,
    ReleaseStatus,
    RescheduleRequest,
    Schedule,
    SelectVersions,
    UpdatePack,
    UpdateVersion,
    Version,
    VersionList,
    VersionSelection,
    WebhookDelivery,
    WebhookDeliveryList,
    WebhookEndpointList,
    WebhookEndpointWithSecret,
    WorkerList,
)

BASE, ADMIN_TOKEN = sys.argv[1], sys.argv[2]
RECEIVER = sys.argv[3] if len(sys.argv) > 3 else None
STEPS = 0


def client(token):
    return AuthenticatedClient(base_url=BASE, token=token, raise_on_unexpected_status=True, timeout=10.0)


def ok(response, model, status=None):
    """The typed answer of a call that must succeed (with `status`, when given)."""
    global STEPS
    STEPS += 1
    code = int(response.status_code)
    if not isinstance(response.parsed, model) or (status is not None and code != status):
        sys.exit(f"client-flow: expected {status or '2xx'} {model.__name__}, got {code}: {response.content[:500]!r}")
    return response.parsed


def problem(response, status, code):
    """A call that must fail with this problem; its body parses as the typed Problem."""
    global STEPS
    STEPS += 1
    parsed = response.parsed
    if not isinstance(parsed, Problem) or parsed.status != status or parsed.code != code:
        sys.exit(f"client-flow: expected {status} {code}, got {int(response.status_code)}: {response.content[:500]!r}")
    if response.headers.get("content-type") != "application/problem+json":
        sys.exit(f"client-flow: a problem answered as {response.headers.get('content-type')}")
    return parsed


def check(condition, what):
    if not condition:
        sys.exit(f"client-flow: {what}")


admin = client(ADMIN_TOKEN)
tag = uuid.uuid4().hex[:8]

# Accounts and tokens.
ok(healthz.sync_detailed(client=Client(base_url=BASE, raise_on_unexpected_status=True)), Health)  # no token
publisher = ok(create_account.sync_detailed(client=admin, body=CreateAccount(name=f"Client {tag}", kind=AccountKind.PUBLISHER)), Account, 201)
check(publisher.kind == AccountKind.PUBLISHER and publisher.parent_id is None, "a publisher has no parent")
token = ok(create_token.sync_detailed(publisher.id, client=admin, body=CreateToken(name="client-flow")), CreatedToken, 201)
pub = client(token.token)
check(ok(get_account.sync_detailed(publisher.id, client=pub), Account).id == publisher.id, "the publisher reads itself")

# Catalog: a component with two versions, a pack holding it.
component = ok(create_component.sync_detailed(client=pub, body=CreateComponent(name="Order sync", type_=ComponentType.PROCESS)), Component, 201)
for version in ("1.0.0", "1.1.0"):
    ok(create_version.sync_detailed(component.id, client=pub, body=CreateVersion(version=version, notes=f"v{version}")), Version, 201)
versions = ok(list_versions.sync_detailed(component.id, client=pub, limit=1), VersionList)
check([v.version for v in versions.items] == ["1.1.0"] and versions.next_cursor, "versions page newest first")
rest = ok(list_versions.sync_detailed(component.id, client=pub, limit=1, cursor=versions.next_cursor), VersionList)
check([v.version for v in rest.items] == ["1.0.0"] and rest.next_cursor is None, "the next page ends the list")
refused = problem(create_version.sync_detailed(component.id, client=pub, body=CreateVersion(version="1.0/../x")), 422, "validation_failed")
check([e.field for e in refused.errors] == ["version"], "a 422 names the field")
pack = ok(create_pack.sync_detailed(client=pub, body=CreatePack(name=f"Orders {tag}", description="via a generated client",
                                                                 installation_type=InstallationType.SINGLE)), IntegrationPack, 201)
ok(add_member.sync_detailed(pack.id, client=pub, body=AddComponent(component_id=component.id)), PackComponent, 201)
members = ok(list_members.sync_detailed(pack.id, client=pub), PackComponentList)
check(members.items[0].released_version is None and members.items[0].latest_version == "1.1.0", "a new member is unreleased")
found = ok(list_packs.sync_detailed(client=pub, name_prefix=f"orders {tag}"), IntegrationPackList)
check([p.id for p in found.items] == [pack.id], "packs are found by name prefix")

# ETags: a stale If-Match is a 412 problem, the current one passes, If-None-Match answers 304.
read = get_pack.sync_detailed(pack.id, client=pub)
etag = read.headers["etag"]
check(int(get_pack.sync_detailed(pack.id, client=pub, if_none_match=etag).status_code) == 304, "If-None-Match answers 304")
updated = ok(update_pack.sync_detailed(pack.id, client=pub, body=UpdatePack(description="edited"), if_match=etag), IntegrationPack, 200)
check(updated.description == "edited", "the pack was edited")
problem(update_pack.sync_detailed(pack.id, client=pub, body=UpdatePack(description="lost"), if_match=etag), 412, "precondition_failed")

# Release immediately, retried with one idempotency key: one release.
draft = ok(create_draft.sync_detailed(pack.id, client=pub), ReleaseDraft, 201)
check(draft.has_changes and draft.items[0].pending_version == "1.1.0", "a draft preselects the latest version")
draft = ok(select_versions.sync_detailed(draft.id, client=pub, body=SelectVersions(items=[VersionSelection(component.id, "1.0.0")])), ReleaseDraft, 200)
key = f"client-flow-{tag}"
first = release_draft.sync_detailed(draft.id, client=pub, body=ReleaseRequest(schedule=Schedule.IMMEDIATELY), idempotency_key=key)
release = ok(first, Release, 201)
again = release_draft.sync_detailed(draft.id, client=pub, body=ReleaseRequest(schedule=Schedule.IMMEDIATELY), idempotency_key=key)
check(ok(again, Release, 201).id == release.id and again.headers.get("idempotent-replayed") == "true", "a retry replays the release")
check(again.headers.get("location") == first.headers.get("location"), "a replay keeps Location")
problem(release_draft.sync_detailed(draft.id, client=pub, body=ReleaseRequest(schedule=Schedule.ON_DATE, release_on=datetime.date.today()),
                                    idempotency_key=key), 422, "idempotency_key_reused")
check(release.status == ReleaseStatus.RELEASED and release.release_on is None, "an immediate release is released")
check(ok(get_release.sync_detailed(release.id, client=pub), Release).items[0].version == "1.0.0", "the release names 1.0.0")

# A subscriber in a group sharing the pack installs it.
subscriber = ok(create_account.sync_detailed(client=pub, body=CreateAccount(name=f"Shop {tag}")), Account, 201)
check(subscriber.kind == AccountKind.SUBSCRIBER and subscriber.parent_id == publisher.id, "a publisher makes subscribers")
sub = client(ok(create_token.sync_detailed(subscriber.id, client=pub), CreatedToken, 201).token)
group = ok(create_group.sync_detailed(client=pub, body=GroupName(name=f"Customers {tag}")), AccountGroup, 201)
ok(add_group_member.sync_detailed(group.id, client=pub, body=AddGroupMember(account_id=subscriber.id)), Account, 201)
ok(add_pack.sync_detailed(group.id, client=pub, body=AddGroupPack(integration_pack_id=pack.id)), GroupPack, 201)
installation = ok(install.sync_detailed(subscriber.id, client=sub, body=Install(integration_pack_id=pack.id)), Installation, 201)
check([(v.component_id, v.version) for v in installation.versions] == [(component.id, "1.0.0")], "the installation runs 1.0.0")
check(installation.pending_update is None, "nothing is pending yet")
problem(install.sync_detailed(subscriber.id, client=pub, body=Install(integration_pack_id=pack.id)), 403, "forbidden")
mine = ok(list_installations.sync_detailed(subscriber.id, client=sub, integration_pack_id=pack.id), InstallationList)
check([i.id for i in mine.items] == [installation.id], "installations filter by pack")

# A dated release is a pending update; applying it early, rescheduling, canceling.
draft = ok(create_draft.sync_detailed(pack.id, client=pub), ReleaseDraft, 201)
on = datetime.date.today() + datetime.timedelta(days=10)
scheduled = ok(release_draft.sync_detailed(draft.id, client=pub, body=ReleaseRequest(schedule=Schedule.ON_DATE, release_on=on)), Release, 201)
check(scheduled.status == ReleaseStatus.SCHEDULED and scheduled.release_on == on, "a dated release waits")
check(scheduled.due_at.tzinfo is not None and scheduled.due_at_local.utcoffset() is not None, "due instants carry offsets")
pending = ok(get_installation.sync_detailed(subscriber.id, installation.id, client=sub), Installation).pending_update
check(pending is not None and pending.release_id == scheduled.id, "the installation shows the pending update")
applied = ok(apply_update.sync_detailed(subscriber.id, installation.id, client=sub, idempotency_key=f"apply-{tag}"), Installation, 200)
check(applied.versions[0].version == "1.1.0" and applied.pending_update is None, "applied early")
pushes = ok(list_pushes.sync_detailed(scheduled.id, client=pub, outcome=PushOutcome.APPLIED_EARLY), PushList)
check([p.installation_id for p in pushes.items] == [installation.id], "the early push is listed")
schedule = ok(release_schedule.sync_detailed(client=pub), ReleaseList)
check(scheduled.id in [r.id for r in schedule.items], "the schedule lists the release")
moved = ok(reschedule_release.sync_detailed(scheduled.id, client=pub, body=RescheduleRequest(release_on=on + datetime.timedelta(days=1))), Release, 200)
etag = get_release.sync_detailed(scheduled.id, client=pub).headers["etag"]
canceled = ok(cancel_release.sync_detailed(moved.id, client=pub, if_match=etag), Release, 200)
check(canceled.status == ReleaseStatus.CANCELED and canceled.canceled_at is not None, "canceled")
listed = ok(list_releases.sync_detailed(client=pub, status=ReleaseStatus.CANCELED, integration_pack_id=pack.id), ReleaseList)
check([r.id for r in listed.items] == [scheduled.id], "releases filter by status and pack")

# A legacy pack releases its latest versions in one call (no version step); it
# rolls back when the bad version stops being shared.
legacy = ok(create_pack.sync_detailed(client=pub, body=CreatePack(name=f"Legacy {tag}", installation_type=InstallationType.SINGLE,
                                                                   deployment=Deployment.LEGACY)), IntegrationPack, 201)
check(legacy.deployment == Deployment.LEGACY, "the pack is legacy")
ok(add_member.sync_detailed(legacy.id, client=pub, body=AddComponent(component_id=component.id)), PackComponent, 201)
only = ok(list_packs.sync_detailed(client=pub, deployment=Deployment.LEGACY, name_prefix=f"legacy {tag}"), IntegrationPackList)
check([p.id for p in only.items] == [legacy.id], "packs filter by deployment model")
legacy_draft = ok(create_draft.sync_detailed(legacy.id, client=pub), ReleaseDraft, 201)
problem(select_versions.sync_detailed(legacy_draft.id, client=pub, body=SelectVersions(items=[VersionSelection(component.id, "1.0.0")])),
        409, "version_selection_unsupported")
out = ok(release_latest.sync_detailed(legacy.id, client=pub, body=ReleaseRequest(schedule=Schedule.IMMEDIATELY),
                                      idempotency_key=f"one-call-{tag}"), Release, 201)
check(out.status == ReleaseStatus.RELEASED and out.items[0].version == "1.1.0", "the one-call release takes the latest")
unshared = ok(update_version.sync_detailed(component.id, "1.1.0", client=pub, body=UpdateVersion(shareable=False)), Version, 200)
check(unshared.shareable is False, "the version is no longer shared")
back = ok(release_latest.sync_detailed(legacy.id, client=pub, body=ReleaseRequest(schedule=Schedule.IMMEDIATELY)), Release, 201)
check(back.items[0].version == "1.0.0" and back.items[0].previous_version == "1.1.0", "rolled back to 1.0.0")
problem(release_latest.sync_detailed(legacy.id, client=pub, body=ReleaseRequest(schedule=Schedule.IMMEDIATELY)), 409, "nothing_to_release")

# Webhooks: the subscriber registers an endpoint (its secret shown once), sends
# it a test, reads the delivery until it succeeded, and finds the test and its
# early update in the feed.
if RECEIVER:
    endpoint = ok(create_endpoint.sync_detailed(subscriber.id, client=sub, body=CreateWebhookEndpoint(
        url=f"{RECEIVER}/sink/client-flow", description="client flow")), WebhookEndpointWithSecret, 201)
    check(endpoint.secret.startswith("whsec_") and endpoint.enabled and endpoint.previous_secret_expires_at is None,
          "a new endpoint is enabled, with a secret")
    check(EventType.INSTALLATION_UPDATED in endpoint.event_types and EventType.RELEASE_RELEASED not in endpoint.event_types,
          "a subscriber's endpoint takes installation events by default")
    problem(create_endpoint.sync_detailed(subscriber.id, client=sub, body=CreateWebhookEndpoint(
        url=f"{RECEIVER}/sink/client-flow", event_types=["release.released"])), 422, "validation_failed")
    endpoints = ok(list_endpoints.sync_detailed(subscriber.id, client=sub), WebhookEndpointList)
    check([e.id for e in endpoints.items] == [endpoint.id], "the endpoint is listed")
    sent = ok(test_endpoint.sync_detailed(subscriber.id, endpoint.id, client=sub), WebhookDelivery, 201)
    check(sent.event_type == EventType.WEBHOOK_TEST and sent.endpoint_id == endpoint.id, "a test delivery")
    deadline = time.monotonic() + 30
    while True:
        delivery = ok(get_delivery.sync_detailed(sent.id, client=sub), WebhookDelivery)
        if delivery.status != DeliveryStatus.PENDING or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    check(delivery.status == DeliveryStatus.SUCCEEDED and delivery.attempts and delivery.attempts[-1].status_code == 204,
          f"the test delivery succeeded: {delivery.to_dict()}")
    listed = ok(list_account_deliveries.sync_detailed(subscriber.id, client=sub, endpoint_id=endpoint.id,
                                                      event_type=EventType.WEBHOOK_TEST), WebhookDeliveryList)
    check([d.id for d in listed.items] == [sent.id], "deliveries filter by endpoint and type")
    feed = ok(list_events.sync_detailed(subscriber.id, client=sub), EventFeed)
    by_id = {e.id: e for e in feed.items}
    check(sent.event_id in by_id and by_id[sent.event_id].type_ == EventType.WEBHOOK_TEST, "the test is in the feed")
    check(by_id[sent.event_id].data["endpoint_id"] == str(endpoint.id), "the test names its endpoint")
    check(any(e.type_ == EventType.INSTALLATION_UPDATED for e in feed.items), "the early update is in the feed")
    rest = ok(list_events.sync_detailed(subscriber.id, client=sub, after=feed.next_cursor), EventFeed)
    check(rest.items == [] and rest.next_cursor == feed.next_cursor, "the feed ends with the same cursor")
    problem(list_events.sync_detailed(subscriber.id, client=sub, after="not-a-cursor"), 422, "validation_failed")

# What a caller may not see is a 404 problem; workers are listed.
problem(get_pack.sync_detailed(uuid.uuid4(), client=pub), 404, "not_found")
problem(get_release.sync_detailed(release.id, client=sub), 404, "not_found")
ok(list_workers.sync_detailed(client=pub), WorkerList)

print(f"client-flow: {STEPS} calls through the generated client, every answer typed as the contract says")
