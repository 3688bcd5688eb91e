"""Documents of a case (a photo of a letter, a screenshot, a PDF), uploaded by the app straight to S3.

1. `new_upload`: a slot in the case and an S3 presigned POST whose policy S3 enforces: this exact
   key (documents/<case id>/<upload id>, chosen here), the declared Content-Type (JPEG, PNG or PDF),
   1 byte to 5 MB, 10 minutes.
2. The app POSTs the file to S3 with those fields.
3. `attach`: the server first copies the object to a key of its own
   (documents/<case id>/<upload id>.<random>), then checks that copy (the policy is S3's word,
   this is ours): its size (HEAD) and its first bytes (a ranged GET) must match the declared type;
   otherwise both objects are deleted, the slot marked rejected, and the answer is a 422. An
   accepted document is a timeline step, in one transaction with the slot (which now names the
   copy) and the case; the uploaded object is then deleted.

Why the copy: the presigned POST stays valid for its 10 minutes after the attach, and a form
cannot be revoked, so the upload key can be written again. The copy's key is one no form names
(each form's policy names exactly its upload key), so what was checked is what the case holds and
what an agent downloads, whatever is posted afterwards: attaching is final. The copy is checked
rather than the upload so that no post between the check and the copy can slip in, and each
attach attempt copies to its own key so that two at once never check each other's object. It needs
no permission beyond what uploads use: CopyObject is GetObject on the source and PutObject on the
destination, both under documents/.

boto3 is imported on the first document call only: the API's cold start does not pay for it.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib.cases import service
from chalicelib.cases import settings as case_config
from chalicelib.cases.messages import MAX_DOCUMENT_MB, text
from chalicelib.cases.models import Case, CaseUpload, upload_sk
from chalicelib.common.clock import epoch, iso, now
from chalicelib.errors import Conflict, Expired, NotFound, TemporarilyUnavailable, Unprocessable
from chalicelib.observability.log import log_event
from chalicelib.store.db import ConditionsFailed, Transaction
from chalicelib.store.models import customer_pk
from chalicelib.store.objects import s3_client

MAX_BYTES = MAX_DOCUMENT_MB * 1024 * 1024
MAX_DOCUMENTS = 10
POST_EXPIRES_S = 600  # the presigned POST
SLOT_KEPT = timedelta(days=1)  # a pending slot: attach within a day
DOWNLOAD_EXPIRES_S = 300  # an agent's link to a document
# The first bytes each declared type must start with.
MAGIC: dict[str, tuple[bytes, ...]] = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "application/pdf": (b"%PDF-",),
}
SNIFF_BYTES = 16


def s3() -> Any:
    current = case_config.case_settings()
    return s3_client(current.s3_endpoint, current.region)


def object_key(case_id: str, upload_id: str) -> str:
    return f"documents/{case_id}/{upload_id}"


def new_upload(*, customer_id: str, case_id: str, content_type: str, file_name: str | None) -> dict[str, Any]:
    """A slot for one document and the presigned POST that uploads it."""
    case = service.load(customer_id, case_id)
    if case.status not in service.OPEN_STATUSES:
        raise service.closed()
    if int(case.documents or 0) >= MAX_DOCUMENTS:
        raise Conflict(text("too_many_documents"), code="too_many_documents")
    moment = now()
    upload_id = f"upl_{secrets.token_hex(12)}"
    key = object_key(case_id, upload_id)
    bucket = case_config.case_settings().documents_bucket
    try:
        post = s3().generate_presigned_post(
            bucket,
            key,
            Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, MAX_BYTES]],
            ExpiresIn=POST_EXPIRES_S,
        )
    except Exception as error:  # noqa: BLE001 - credentials missing or the like: the customer can only retry
        log_event("case_upload_unavailable", customer_id=customer_id, error=type(error).__name__)
        raise TemporarilyUnavailable(text("documents_unavailable"), code="documents_unavailable") from None
    CaseUpload(
        customer_pk(customer_id),
        upload_sk(case_id, upload_id),
        upload_id=upload_id,
        case_id=case_id,
        object_key=key,
        content_type=content_type,
        file_name=file_name,
        status="pending",
        created_at=iso(moment),
        expires_at=epoch(moment + SLOT_KEPT),
    ).save()
    return {
        "upload_id": upload_id,
        "url": post["url"],
        "fields": post["fields"],
        "content_type": content_type,
        "max_bytes": MAX_BYTES,
        "expires_at": iso(moment + timedelta(seconds=POST_EXPIRES_S)),
    }


def _upload(customer_id: str, case_id: str, upload_id: str) -> CaseUpload:
    try:
        return CaseUpload.get(customer_pk(customer_id), upload_sk(case_id, upload_id), consistent_read=True)
    except CaseUpload.DoesNotExist:
        service.load(customer_id, case_id)  # the case's own 404 first (unknown, or someone else's)
        raise NotFound(text("upload_not_found"), code="upload_not_found") from None


def _status_of(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str((response.get("Error") or {}).get("Code") or "")


def _unavailable() -> TemporarilyUnavailable:
    return TemporarilyUnavailable(text("documents_unavailable"), code="documents_unavailable")


def _take(upload: CaseUpload) -> str:
    """Copy the uploaded object to a key of this attempt's own (see the module's docstring); the
    copy's key. 409 when nothing has been uploaded."""
    from botocore.exceptions import BotoCoreError, ClientError

    bucket = case_config.case_settings().documents_bucket
    copy = f"{upload.object_key}.{secrets.token_hex(8)}"
    try:
        s3().copy_object(
            Bucket=bucket,
            Key=copy,
            CopySource={"Bucket": bucket, "Key": upload.object_key},
            MetadataDirective="COPY",
        )
    except ClientError as error:
        if _status_of(error) in ("404", "NoSuchKey", "NotFound"):
            raise Conflict(text("upload_missing"), code="upload_missing") from None
        raise _unavailable() from None
    except BotoCoreError:
        raise _unavailable() from None
    return copy


def _inspect(key: str) -> tuple[int, bytes]:
    """The object's size and first bytes."""
    from botocore.exceptions import BotoCoreError, ClientError

    bucket = case_config.case_settings().documents_bucket
    try:
        head = s3().head_object(Bucket=bucket, Key=key)
        size = int(head["ContentLength"])
        first = (
            s3()
            .get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{SNIFF_BYTES - 1}")["Body"]
            .read(SNIFF_BYTES)
        )
    except (ClientError, BotoCoreError):
        raise _unavailable() from None  # our own copy, just written: its absence is S3's trouble
    return size, bytes(first)


def _discard(*keys: str) -> None:
    """Delete objects nothing will read (best effort: a leftover costs storage, never a wrong
    document, since the case names only the copy it accepted)."""
    from botocore.exceptions import BotoCoreError, ClientError

    bucket = case_config.case_settings().documents_bucket
    for key in keys:
        try:
            s3().delete_object(Bucket=bucket, Key=key)
        except (ClientError, BotoCoreError) as error:
            log_event("case_document_discard_failed", key=key, error=type(error).__name__)


def why_refused(declared: str, size: int, first: bytes) -> str | None:
    """None when the object is what was declared; else why not (for the log)."""
    if size < 1:
        return "empty"
    if size > MAX_BYTES:
        return "too_large"
    if not any(first.startswith(magic) for magic in MAGIC.get(declared, ())):
        return "type_mismatch"
    return None


def _reject(customer_id: str, upload: CaseUpload, reason: str, *, copy: str) -> bool:
    """Delete the uploaded object and this attempt's copy, and mark the slot rejected. False when
    another attempt attached the slot meanwhile (a file checked good, posted before this one):
    that document stands."""
    _discard(upload.object_key, copy)
    try:
        upload.update(actions=[CaseUpload.status.set("rejected")], condition=CaseUpload.status == "pending")
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        return False
    log_event("case_document_rejected", customer_id=customer_id, case_id=upload.case_id, reason=reason)
    return True


def attach(*, customer_id: str, case_id: str, upload_id: str) -> dict[str, Any]:
    """Check the uploaded object and put it in the case (idempotent: attaching it again answers
    the case)."""
    upload = _upload(customer_id, case_id, upload_id)
    if upload.status == "attached":
        return service.get_case(customer_id=customer_id, case_id=case_id)
    if upload.status == "rejected":
        raise Unprocessable(text("document_rejected"), code="document_rejected")
    if (upload.expires_at or 0) <= epoch(now()):
        raise Expired(text("upload_expired"), code="upload_expired")
    uploaded = upload.object_key  # the form's key (the slot names the copy once attached)
    copy = _take(upload)
    size, first = _inspect(copy)
    refused = why_refused(upload.content_type, size, first)
    if refused is not None:
        if _reject(customer_id, upload, refused, copy=copy):
            raise Unprocessable(text("document_rejected"), code="document_rejected")
        return service.get_case(customer_id=customer_id, case_id=case_id)

    def decide(case: Case, moment: datetime) -> service.Step:
        if int(case.documents or 0) >= MAX_DOCUMENTS:
            raise Conflict(text("too_many_documents"), code="too_many_documents")
        turn = case.status != "open"

        def slot(tx: Transaction) -> None:
            tx.update(
                upload,
                actions=[
                    CaseUpload.status.set("attached"),
                    CaseUpload.object_key.set(copy),  # the checked copy, which no form can replace
                    CaseUpload.size.set(size),
                    CaseUpload.attached_at.set(iso(moment)),
                    CaseUpload.expires_at.remove(),  # kept with the case from now on
                ],
                condition=CaseUpload.status == "pending",
                label="upload",
            )

        return service.Step(
            allowed=service.OPEN_STATUSES,
            status="open",
            events=[
                service.event(
                    customer_id,
                    case_id,
                    moment,
                    0,
                    kind="document",
                    author="customer",
                    status="open" if turn else None,
                    reason="document_added" if turn else None,
                    detail={
                        "document_id": upload.upload_id,
                        "content_type": upload.content_type,
                        "file_name": upload.file_name,
                        "size": size,
                    },
                )
            ],
            queue="update",
            waiting_since=iso(moment) if turn else None,
            actions=[Case.documents.add(1), Case.awaiting.remove()],
            condition=Case.documents < MAX_DOCUMENTS,
            also=slot,
        )

    try:
        service.move(customer_id, case_id, decide)
    except ConditionsFailed:
        # The slot was attached meanwhile (the app's retry): the first one put its copy in the case.
        _discard(copy)
        if _upload(customer_id, case_id, upload_id).status != "attached":
            raise
    except Exception:
        _discard(copy)  # not in the case: nothing would ever read it
        raise
    else:
        _discard(uploaded)  # the form's object: the case holds the copy
        log_event("case_document_attached", customer_id=customer_id, case_id=case_id, size=size)
    return service.get_case(customer_id=customer_id, case_id=case_id)


def download_url(upload: CaseUpload) -> str:
    """A link for an agent, valid 5 minutes (signed here: no call to S3)."""
    url: str = s3().generate_presigned_url(
        "get_object",
        Params={
            "Bucket": case_config.case_settings().documents_bucket,
            "Key": upload.object_key,
            "ResponseContentType": upload.content_type,
            "ResponseContentDisposition": "attachment",
        },
        ExpiresIn=DOWNLOAD_EXPIRES_S,
    )
    return url
