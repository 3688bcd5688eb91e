"""Documents go from the app straight to S3 with a presigned POST (the local S3 enforces its policy
as S3 does), then the server checks the object before it enters the case."""

from __future__ import annotations

import pytest

from tests.cases.conftest import BUCKET, JPEG, PDF, PNG, opened, upload


def form_for(cases, who, case_id: str, content_type: str = "image/png", **body) -> dict:
    answer = cases.post(
        f"/me/cases/{case_id}/documents/upload", {"content_type": content_type, **body}, token=who.token
    )
    assert answer.status == 201, answer.body
    return dict(answer.body)


def attach(cases, who, case_id: str, upload_id: str):
    return cases.post(f"/me/cases/{case_id}/documents", {"upload_id": upload_id}, token=who.token)


def _held(who, case_id: str, upload_id: str) -> str:
    """The S3 key the case holds for a document."""
    from chalicelib.cases.models import CaseUpload, upload_sk
    from chalicelib.store.models import customer_pk

    return str(
        CaseUpload.get(customer_pk(who.id), upload_sk(case_id, upload_id), consistent_read=True).object_key
    )


def exists(s3_client, key: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        s3_client.head_object(Bucket=BUCKET, Key=key)
    except ClientError:
        return False
    return True


def test_a_real_png_goes_to_s3_and_into_the_case(cases, customer, s3_client, agent):
    who = customer()
    case = opened(cases, who)
    agent("admin_case_request_document", customer_id=who.id, case_id=case["case_id"], what="La lettre reçue")
    form = form_for(cases, who, case["case_id"], file_name="lettre.png")
    key = form["fields"]["key"]
    assert key == f"documents/{case['case_id']}/{form['upload_id']}"  # fixed by the server
    assert form["max_bytes"] == 5 * 1024 * 1024 and form["fields"]["Content-Type"] == "image/png"
    sent = upload(form, PNG)
    assert sent.status_code == 204, sent.text
    attached = attach(cases, who, case["case_id"], form["upload_id"])
    assert attached.status == 201, attached.body
    assert attached.body["documents"] == [
        {
            "document_id": form["upload_id"],
            "content_type": "image/png",
            "file_name": "lettre.png",
            "size": len(PNG),
            "attached_at": attached.body["timeline"][-1]["at"],
        }
    ]
    step = attached.body["timeline"][-1]
    assert (step["kind"], step["author"]["type"], step["status"], step["reason"]) == (
        "document",
        "customer",
        "open",
        "document_added",
    )
    assert attached.body["status"] == "open" and attached.body["awaiting"] is None
    held = _held(who, case["case_id"], form["upload_id"])
    assert held.startswith(key + ".") and exists(s3_client, held)  # the checked copy, in the case
    assert not exists(s3_client, key)  # the form's own object went
    again = attach(cases, who, case["case_id"], form["upload_id"])  # the app's retry
    assert again.status == 201 and len(again.body["documents"]) == 1
    assert len(again.body["timeline"]) == len(attached.body["timeline"])


def test_jpeg_and_pdf_are_accepted_as_declared(cases, customer):
    who = customer()
    case = opened(cases, who)
    for content_type, content in (("image/jpeg", JPEG), ("application/pdf", PDF)):
        form = form_for(cases, who, case["case_id"], content_type)
        assert upload(form, content).status_code == 204
        assert attach(cases, who, case["case_id"], form["upload_id"]).status == 201
    documents = cases.get(f"/me/cases/{case['case_id']}", token=who.token).body["documents"]
    assert [d["content_type"] for d in documents] == ["image/jpeg", "application/pdf"]


def test_a_pdf_declared_as_png_is_rejected_and_deleted(cases, customer, s3_client):
    """S3's policy checks the form's Content-Type, not the bytes: the server reads the first bytes.
    Mutation: skip the magic-bytes check in why_refused → the PDF is attached."""
    who = customer()
    case = opened(cases, who)
    form = form_for(cases, who, case["case_id"], "image/png")
    assert upload(form, PDF, content_type="image/png").status_code == 204  # S3 lets it in
    refused = attach(cases, who, case["case_id"], form["upload_id"])
    assert (refused.status, refused.error_code) == (422, "document_rejected")
    assert not exists(s3_client, form["fields"]["key"])
    assert cases.get(f"/me/cases/{case['case_id']}", token=who.token).body["documents"] == []
    assert attach(cases, who, case["case_id"], form["upload_id"]).error_code == "document_rejected"


def test_the_policy_refuses_another_type_and_a_file_too_large(cases, customer, s3_client):
    who = customer()
    case = opened(cases, who)
    form = form_for(cases, who, case["case_id"], "image/png")
    other_type = upload({**form, "fields": {**form["fields"], "Content-Type": "application/pdf"}}, PDF)
    assert other_type.status_code == 403 and "Policy Condition failed" in other_type.text
    too_large = upload(form, PNG + b"\0" * (5 * 1024 * 1024))
    assert too_large.status_code == 400 and "EntityTooLarge" in too_large.text
    empty = upload(form, b"")
    assert empty.status_code == 400 and "EntityTooSmall" in empty.text
    assert not exists(s3_client, form["fields"]["key"])
    missing = attach(cases, who, case["case_id"], form["upload_id"])
    assert (missing.status, missing.error_code) == (409, "upload_missing")


def test_the_server_checks_the_size_itself(cases, customer, monkeypatch):
    """The attach step does not take S3's word for the size. Mutation: drop the size check."""
    from chalicelib.cases import documents

    who = customer()
    case = opened(cases, who)
    form = form_for(cases, who, case["case_id"])
    assert upload(form, PNG).status_code == 204
    monkeypatch.setattr(documents, "MAX_BYTES", len(PNG) - 1)
    refused = attach(cases, who, case["case_id"], form["upload_id"])
    assert (refused.status, refused.error_code) == (422, "document_rejected")


def test_documents_of_others_and_unknown_uploads_are_404(cases, customer):
    owner, intruder = customer(), customer()
    case = opened(cases, owner)
    own = opened(cases, intruder)
    form = form_for(cases, owner, case["case_id"])
    assert upload(form, PNG).status_code == 204
    # The intruder names the owner's upload under their own case: not theirs, not found.
    answer = attach(cases, intruder, own["case_id"], form["upload_id"])
    assert (answer.status, answer.error_code) == (404, "upload_not_found")
    unknown = attach(cases, owner, case["case_id"], "upl_" + "0" * 24)
    assert (unknown.status, unknown.error_code) == (404, "upload_not_found")
    assert cases.get(f"/me/cases/{case['case_id']}", token=owner.token).body["documents"] == []


def test_only_jpeg_png_pdf_and_at_most_ten_documents(cases, customer, monkeypatch):
    from chalicelib.cases import documents

    who = customer()
    case = opened(cases, who)
    bad = cases.post(
        f"/me/cases/{case['case_id']}/documents/upload", {"content_type": "text/html"}, token=who.token
    )
    assert bad.error_code == "validation_error"
    for name in ("../etc/passwd", "a\\b.png"):
        answer = cases.post(
            f"/me/cases/{case['case_id']}/documents/upload",
            {"content_type": "image/png", "file_name": name},
            token=who.token,
        )
        assert answer.error_code == "validation_error", name
    monkeypatch.setattr(documents, "MAX_DOCUMENTS", 1)
    forms = [form_for(cases, who, case["case_id"]) for _ in range(2)]
    for form in forms:
        assert upload(form, PNG).status_code == 204
    assert attach(cases, who, case["case_id"], forms[0]["upload_id"]).status == 201
    full = attach(cases, who, case["case_id"], forms[1]["upload_id"])
    assert (full.status, full.error_code) == (409, "too_many_documents")
    refused = cases.post(
        f"/me/cases/{case['case_id']}/documents/upload", {"content_type": "image/png"}, token=who.token
    )
    assert refused.error_code == "too_many_documents"


def test_no_documents_once_closed(cases, customer):
    who = customer()
    case = opened(cases, who)
    form = form_for(cases, who, case["case_id"])
    assert upload(form, PNG).status_code == 204
    cases.post(f"/me/cases/{case['case_id']}/close", {"solved": True}, token=who.token)
    assert attach(cases, who, case["case_id"], form["upload_id"]).error_code == "case_closed"
    refused = cases.post(
        f"/me/cases/{case['case_id']}/documents/upload", {"content_type": "image/png"}, token=who.token
    )
    assert (refused.status, refused.error_code) == (409, "case_closed")


def test_an_unreachable_s3_is_a_503_not_a_500(cases, customer, case_settings):
    from devtools.s3_local import free_port

    who = customer()
    case = opened(cases, who)
    form = form_for(cases, who, case["case_id"])
    case_settings(s3_endpoint=f"http://127.0.0.1:{free_port()}")  # nobody listens there
    answer = attach(cases, who, case["case_id"], form["upload_id"])
    assert (answer.status, answer.error_code) == (503, "documents_unavailable")
    assert answer.headers["Retry-After"]


@pytest.mark.parametrize(
    ("declared", "size", "first", "why"),
    [
        ("image/png", len(PNG), PNG[:16], None),
        ("image/jpeg", 10, JPEG[:16], None),
        ("application/pdf", 10, PDF[:16], None),
        ("image/png", 10, JPEG[:16], "type_mismatch"),
        ("image/jpeg", 10, PNG[:16], "type_mismatch"),
        ("application/pdf", 10, b"<html>", "type_mismatch"),
        ("image/png", 0, b"", "empty"),
        ("image/png", 5 * 1024 * 1024 + 1, PNG[:16], "too_large"),
    ],
)
def test_why_refused(declared, size, first, why):
    from chalicelib.cases.documents import why_refused

    assert why_refused(declared, size, first) == why


def test_a_document_posted_again_after_its_attach_changes_nothing(cases, customer, s3_client, agent):
    """A presigned POST cannot be revoked: for its 10 minutes the same form uploads again, after
    the attach too. What the case holds is the copy made and checked at attach, under a key no
    form names: the agent downloads the PNG that was checked, not the PDF posted afterwards, and
    attaching again changes nothing. Mutation: make `documents._take` return the upload's own key
    (no copy) → the agent gets the PDF."""
    import requests

    who = customer()
    case = opened(cases, who)
    form = form_for(cases, who, case["case_id"], "image/png")
    assert upload(form, PNG).status_code == 204
    assert attach(cases, who, case["case_id"], form["upload_id"]).status == 201
    assert upload(form, PDF, content_type="image/png").status_code == 204  # S3 takes it: the form is valid
    again = attach(cases, who, case["case_id"], form["upload_id"])
    assert again.status == 201 and [d["size"] for d in again.body["documents"]] == [len(PNG)]
    context = agent("admin_case_context", customer_id=who.id, case_id=case["case_id"])
    (document,) = context["case"]["documents"]
    downloaded = requests.get(document["download_url"], timeout=10)
    assert downloaded.status_code == 200 and downloaded.content == PNG


def test_a_post_during_the_attach_never_reaches_the_case_unchecked(cases, customer, s3_client, monkeypatch):
    """The object is copied first and the copy checked, so a post that lands while the attach is
    checking (here: right after the check) changes nothing the case holds. Mutation: in `attach`,
    check the upload's key and copy it afterwards → the copy is the PDF posted in between."""
    from chalicelib.cases import documents

    who = customer()
    case = opened(cases, who)
    form = form_for(cases, who, case["case_id"], "image/png")
    assert upload(form, PNG).status_code == 204
    real_inspect = documents._inspect

    def inspect_then_someone_posts(key: str) -> tuple[int, bytes]:
        found = real_inspect(key)
        assert upload(form, PDF, content_type="image/png").status_code == 204
        return found

    monkeypatch.setattr(documents, "_inspect", inspect_then_someone_posts)
    assert attach(cases, who, case["case_id"], form["upload_id"]).status == 201
    held = s3_client.get_object(Bucket=BUCKET, Key=_held(who, case["case_id"], form["upload_id"]))
    assert held["Body"].read() == PNG


def test_a_bad_file_checked_while_a_good_one_was_attached_leaves_the_good_one(cases, customer, monkeypatch):
    """Two attaches of one slot at once, the form posted twice: the later check finds a PDF
    declared as PNG while the other attempt has already attached the PNG. The slot stays attached
    with the PNG (rejecting only a slot still pending), and the late attempt answers the case.
    Mutation: mark the slot rejected unconditionally in `documents._reject` → 422 and the case
    lists no document."""
    from chalicelib.cases import documents

    who = customer()
    case = opened(cases, who)
    form = form_for(cases, who, case["case_id"], "image/png")
    assert upload(form, PDF, content_type="image/png").status_code == 204
    real_inspect = documents._inspect
    nested: list[object] = []

    def meanwhile_the_png_is_posted_and_attached(key: str) -> tuple[int, bytes]:
        found = real_inspect(key)  # this attempt's copy: the PDF
        if not nested:
            nested.append(True)
            assert upload(form, PNG).status_code == 204
            nested.append(attach(cases, who, case["case_id"], form["upload_id"]))
        return found

    monkeypatch.setattr(documents, "_inspect", meanwhile_the_png_is_posted_and_attached)
    late = attach(cases, who, case["case_id"], form["upload_id"])
    assert nested[1].status == 201  # type: ignore[attr-defined]
    assert late.status == 201, late.body
    assert [d["size"] for d in late.body["documents"]] == [len(PNG)]
