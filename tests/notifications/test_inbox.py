"""notify() and the inbox: one item per dedup key, newest first, an exact unread count."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from chalicelib.notifications import inbox


def _notify(customer_id: str, key: str, name: str = "Phone") -> inbox.Notified:
    return inbox.notify(
        customer_id=customer_id,
        kind="security.passkey_added",
        data={"passkey_id": "p1", "passkey_name": name},
        dedup_key=key,
    )


def test_the_same_dedup_key_never_makes_two_items(api, enrol):
    enrolled = enrol()
    cid = enrolled.customer["customer_id"]
    first = _notify(cid, "k-1")
    again = _notify(cid, "k-1")
    assert first.created and not again.created and again.alert_id == first.alert_id
    items = api.get("/me/inbox", token=enrolled.token).body["items"]
    assert [i["id"] for i in items].count(first.alert_id) == 1


def test_concurrent_producers_with_one_key_make_one_item_and_count_it_once(api, enrol):
    enrolled = enrol()
    cid = enrolled.customer["customer_id"]
    before = api.get("/me/inbox/unread-count", token=enrolled.token).body["unread"]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: _notify(cid, "race"), range(8)))
    assert len({r.alert_id for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert api.get("/me/inbox/unread-count", token=enrolled.token).body["unread"] == before + 1


def test_items_are_in_the_customers_language(api, enrol, app_module):
    enrolled = enrol()
    item = api.get(
        "/me/inbox/" + _notify(enrolled.customer["customer_id"], "fr").alert_id + "/read",
        token=enrolled.token,
    )
    assert item.status == 405  # reading is a POST; GET is not a route
    read = api.post(
        f"/me/inbox/{_notify(enrolled.customer['customer_id'], 'fr').alert_id}/read", token=enrolled.token
    ).body
    assert read["title"] == "Nouvelle clé d'accès" and "« Phone »" in read["body"]
    english = app_module.admin_create_customer(
        {"customer_number": "EN-1", "name": "Alan", "language": "en"}, None
    )
    created = _notify(english["customer_id"], "en")
    from chalicelib.store.models import InboxItem, customer_pk

    stored = InboxItem.get(customer_pk(english["customer_id"]), f"INBOX#{created.alert_id}")
    assert stored.title == "New passkey" and stored.language == "en"


def test_inbox_items_name_their_help_situation(api, enrol):
    """Each item carries the situation its kind declares in the catalog (not stored: read from the
    catalog when shown), for the app to ask GET /help/situations/{situation}. Mutation:
    `"situation": item.kind` in inbox.to_wire → `bidding.lost` instead of `bid_lost` → fails."""
    enrolled = enrol()
    cid = enrolled.customer["customer_id"]
    lost = inbox.notify(
        customer_id=cid,
        kind="bidding.lost",
        data={
            "offer_id": "off_1",
            "title_fr": "5G+",
            "title_en": "5G+",
            "amount": "9.00 EUR",
            "reason": "outbid",
        },
        dedup_key="situation-lost",
    )
    added = _notify(cid, "situation-passkey")
    items = {i["id"]: i for i in api.get("/me/inbox", token=enrolled.token).body["items"]}
    assert items[lost.alert_id]["situation"] == "bid_lost"
    assert items[added.alert_id]["situation"] == "account_security"


def test_every_kind_declares_a_situation_an_article_may_name():
    """The catalog's situations are SITUATIONS names (an article can answer each); a kind gone from
    the catalog still names a well-formed one. Mutation: `billing.payment_failed` →
    situation="billing_payment_failed" → fails."""
    import re

    from chalicelib.help.schemas import SITUATION, SITUATIONS
    from chalicelib.notifications.catalog import KINDS, situation_of

    declared = {name: kind.situation for name, kind in KINDS.items()}
    assert set(declared.values()) <= set(SITUATIONS)
    assert declared["billing.payment_failed"] == "payment_failed"
    assert declared["usage.threshold_100"] == "usage_threshold_100"
    assert declared["bidding.declined"] == "bid_declined"
    assert declared["service.request_updated"] == "plan_change"
    assert situation_of("billing.refund_sent") == "billing_refund_sent"
    assert re.fullmatch(SITUATION, situation_of("billing.refund_sent"))


def test_inbox_pages_newest_first_with_an_opaque_cursor(api, enrol):
    enrolled = enrol()
    cid = enrolled.customer["customer_id"]
    ids = [_notify(cid, f"page-{n}").alert_id for n in range(7)]
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        path = "/me/inbox?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = api.get(path, token=enrolled.token).body
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert [i for i in seen if i in ids] == list(reversed(ids))
    assert len(seen) == len(set(seen))


def test_bad_query_parameters_are_refused(api, enrol):
    enrolled = enrol()
    assert api.get("/me/inbox?limit=500", token=enrolled.token).status == 400
    assert api.get("/me/inbox?page=2", token=enrolled.token).status == 400
    bad = api.get("/me/inbox?cursor=bm90LWEtY3Vyc29y", token=enrolled.token)
    assert bad.status == 400 and bad.error_code == "invalid_cursor"


def test_a_cursor_cannot_reach_another_customers_inbox(api, enrol):
    mine, theirs = enrol(), enrol()
    for n in range(3):
        _notify(theirs.customer["customer_id"], f"x-{n}")
    their_cursor = api.get("/me/inbox?limit=1", token=theirs.token).body["next_cursor"]
    refused = api.get(f"/me/inbox?cursor={their_cursor}", token=mine.token)
    assert refused.status == 400 and refused.error_code == "invalid_cursor"


def test_read_one_and_read_all_keep_the_badge_exact(api, enrol):
    enrolled = enrol()
    cid = enrolled.customer["customer_id"]
    base = api.get("/me/inbox/unread-count", token=enrolled.token).body["unread"]
    ids = [_notify(cid, f"b-{n}").alert_id for n in range(30)]
    assert api.get("/me/inbox/unread-count", token=enrolled.token).body["unread"] == base + 30
    first = api.post(f"/me/inbox/{ids[0]}/read", token=enrolled.token)
    assert first.status == 200 and first.body["read"] is True and first.body["read_at"]
    api.post(f"/me/inbox/{ids[0]}/read", token=enrolled.token)  # twice: counted once
    assert api.get("/me/inbox/unread-count", token=enrolled.token).body["unread"] == base + 29
    marked = api.post("/me/inbox/read-all", token=enrolled.token).body["marked"]
    assert marked == base + 29
    assert api.get("/me/inbox/unread-count", token=enrolled.token).body["unread"] == 0
    assert api.post("/me/inbox/read-all", token=enrolled.token).body["marked"] == 0


def test_concurrent_reads_of_one_item_count_once(api, enrol):
    enrolled = enrol()
    cid = enrolled.customer["customer_id"]
    alert = _notify(cid, "concurrent-read").alert_id
    before = inbox.unread_count(customer_id=cid)
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda _: inbox.mark_read(customer_id=cid, alert_id=alert), range(6)))
    assert inbox.unread_count(customer_id=cid) == before - 1


def test_another_customers_alert_is_not_found(api, enrol):
    mine, theirs = enrol(), enrol()
    alert = _notify(theirs.customer["customer_id"], "theirs").alert_id
    assert api.post(f"/me/inbox/{alert}/read", token=mine.token).status == 404
    assert api.get("/me/inbox/unread-count", token=theirs.token).body["unread"] >= 1
    assert api.post("/me/inbox/not-an-id/read", token=mine.token).status == 400


def test_ttl_removal_of_an_unread_item_leaves_the_badge(api, enrol, stream):
    import os

    import boto3

    enrolled = enrol()
    cid = enrolled.customer["customer_id"]
    alert = _notify(cid, "expiring").alert_id
    stream.drain()
    before = inbox.unread_count(customer_id=cid)
    # What DynamoDB's TTL sweep puts on the stream: a REMOVE by the service principal.
    client = boto3.client("dynamodb", endpoint_url=os.environ["DYNAMODB_ENDPOINT"], region_name="eu-west-3")
    old = client.get_item(
        TableName=os.environ["APP_TABLE_NAME"],
        Key={"PK": {"S": f"CUSTOMER#{cid}"}, "SK": {"S": f"INBOX#{alert}"}},
    )["Item"]
    import app

    app.on_table_stream(
        {
            "Records": [
                {
                    "eventID": "1",
                    "eventName": "REMOVE",
                    "eventVersion": "1.1",
                    "eventSource": "aws:dynamodb",
                    "awsRegion": "eu-west-3",
                    "dynamodb": {
                        "Keys": {"PK": old["PK"], "SK": old["SK"]},
                        "OldImage": old,
                        "SequenceNumber": "1",
                        "SizeBytes": 1,
                        "StreamViewType": "NEW_AND_OLD_IMAGES",
                    },
                    "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
                    "eventSourceARN": "arn:aws:dynamodb:eu-west-3:0:table/t/stream/x",
                }
            ]
        },
        None,
    )
    assert inbox.unread_count(customer_id=cid) == before - 1
