"""Bodies of the routes that change factors, contact details and payment methods: the capability's
own body plus the step-up `confirmation` (see chalicelib/auth/stepup.py). Edge models only: the
services keep their own schemas."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, RootModel

from chalicelib.account.profile import EMAIL, PostalAddress, ProfilePatch
from chalicelib.account.roaming import LimitChange
from chalicelib.account.schemas import LINE_ID
from chalicelib.account.suspension import Reason, SuspendBody
from chalicelib.auth.schemas import CHALLENGE_ID, PASSKEY_ID
from chalicelib.billing.money import NonNegativeMinorUnits
from chalicelib.billing.schemas import METHOD_ID, AddMethodBody, ArrangementBody, AutopayBody
from chalicelib.cases.schemas import CASE_ID, CallCodeBody
from chalicelib.common.strict import Strict
from chalicelib.customers.formats import E164
from chalicelib.errors import Unauthenticated, ValidationFailed
from chalicelib.purchases.schemas import OPTION_ID, BuyBody, RemovalBody

CONTACT_FIELDS = ("email", "phone", "postal_address")


class Confirmation(Strict):
    """The answer to `POST /me/step-up`: its challenge id and `PublicKeyCredential.toJSON()`."""

    challenge_id: str = Field(pattern=CHALLENGE_ID)
    credential: dict[str, Any]


class ConfirmedBody(Strict):
    confirmation: Confirmation


class ConfirmedAddMethodBody(AddMethodBody):
    confirmation: Confirmation


class ConfirmedAutopayBody(AutopayBody):
    confirmation: Confirmation


class ConfirmedProfilePatch(ProfilePatch):
    """Language and time zone change freely; email, phone and postal address need a confirmation."""

    confirmation: Confirmation | None = None


class ConfirmedArrangementBody(ArrangementBody):
    confirmation: Confirmation


class ConfirmedCallCodeBody(CallCodeBody):
    confirmation: Confirmation | None = None


class ConfirmedSuspendBody(SuspendBody):
    confirmation: Confirmation


class ConfirmedDataLimitBody(LimitChange):
    confirmation: Confirmation


class ConfirmedBuyBody(BuyBody):
    confirmation: Confirmation


class ConfirmedRemovalBody(RemovalBody):
    confirmation: Confirmation


class RegisterOptionsBody(Strict):
    """Without an access token: the letter's enrolment handle and activation code (first passkey).
    With one: a confirmation of `passkey.add` (another passkey)."""

    enrolment_handle: str | None = Field(default=None, pattern=r"^enr_[A-Za-z0-9_-]{22,64}$")
    activation_code: str | None = Field(default=None, min_length=4, max_length=40)
    confirmation: Confirmation | None = None

    def check_for(self, *, signed_in: bool) -> None:
        if signed_in and (self.enrolment_handle or self.activation_code):
            raise ValidationFailed("Send either an access token or an activation code, not both.")
        if not signed_in and self.confirmation is not None:
            raise ValidationFailed(
                "A confirmation is sent with an access token only (adding another passkey)."
            )


# --- POST /me/step-up: which change to confirm -------------------------------------------------------


class _PasskeyAdd(Strict):
    action: Literal["passkey.add"]


class _PasskeyRemove(Strict):
    action: Literal["passkey.remove"]
    passkey_id: str = Field(pattern=f"^{PASSKEY_ID}$")


class _ContactChanges(Strict):
    email: str | None = Field(default=None, pattern=EMAIL, max_length=254)
    phone: str | None = Field(default=None, pattern=E164)
    postal_address: PostalAddress | None = None


class _ProfileUpdate(Strict):
    action: Literal["profile.update"]
    changes: _ContactChanges


class _MethodAdd(Strict):
    action: Literal["payment_method.add"]
    provider_token: str = Field(min_length=4, max_length=255)


class _MethodRemove(Strict):
    action: Literal["payment_method.remove"]
    payment_method_id: str = Field(pattern=f"^{METHOD_ID}$")


class _MethodDefault(Strict):
    action: Literal["payment_method.default"]
    payment_method_id: str = Field(pattern=f"^{METHOD_ID}$")


class _Autopay(Strict):
    action: Literal["autopay.set"]
    enabled: bool


class _CallCode(Strict):
    action: Literal["call_code"]
    case_id: str | None = Field(default=None, pattern=f"^{CASE_ID}$")  # unset: bound to the account


class _OptionBuy(Strict):
    """Bound to the price the preview showed: a confirmation of another price buys nothing."""

    action: Literal["option.buy"]
    line_id: str = Field(pattern=f"^{LINE_ID}$")
    option_id: str = Field(pattern=OPTION_ID)
    amount: NonNegativeMinorUnits
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class _OptionRemove(Strict):
    action: Literal["option.remove"]
    line_id: str = Field(pattern=f"^{LINE_ID}$")
    option_id: str = Field(pattern=OPTION_ID)


class _LineSuspend(Strict):
    """Bound to the reason: the request, the alert and the line say lost or stolen as confirmed."""

    action: Literal["line.suspend"]
    line_id: str = Field(pattern=f"^{LINE_ID}$")
    reason: Reason


class _LineRestore(Strict):
    action: Literal["line.restore"]
    line_id: str = Field(pattern=f"^{LINE_ID}$")


class _RoamingLimit(LimitChange):
    """Abroad: bound to the new limit (or its lifting) on this line."""

    action: Literal["roaming.limit"]
    line_id: str = Field(pattern=f"^{LINE_ID}$")


def _calendar_day(value: str) -> str:
    """A day that exists (2024-99-99 has the shape, not the day): a 400, never a 500 later."""
    date.fromisoformat(value)
    return value


Day = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$"), AfterValidator(_calendar_day)]


class _Instalment(Strict):
    date: Day
    amount: NonNegativeMinorUnits


class _ArrangementCreate(Strict):
    """A payment arrangement: bound to the preview's balance and schedule (its `step_up`), exactly."""

    action: Literal["arrangement.create"]
    balance: NonNegativeMinorUnits
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    instalments: list[_Instalment] = Field(min_length=1, max_length=3)


class _AccountClose(Strict):
    """An account closure or its cancellation: bound to the effective date the preview showed (its `step_up`)."""

    action: Literal["account.close", "account.close_cancel"]
    effective_date: Day


class StepUpBody(
    RootModel[
        Annotated[
            _PasskeyAdd
            | _PasskeyRemove
            | _ProfileUpdate
            | _MethodAdd
            | _MethodRemove
            | _MethodDefault
            | _Autopay
            | _CallCode
            | _OptionBuy
            | _OptionRemove
            | _LineSuspend
            | _LineRestore
            | _RoamingLimit
            | _ArrangementCreate
            | _AccountClose,
            Field(discriminator="action"),
        ]
    ]
):
    """One change to confirm, with exactly the parameters the change itself will carry."""

    def params(self) -> dict[str, Any]:
        """The parameters bound into the challenge (everything but the action)."""
        return self.root.model_dump(exclude={"action"}, exclude_none=True, mode="json")


def contact_params(changes: ProfilePatch) -> dict[str, Any] | None:
    """The contact part of a profile change, as bound into its confirmation; None if there is none."""
    contact = changes.model_dump(
        include=set(CONTACT_FIELDS), exclude_unset=True, exclude_none=True, mode="json"
    )
    return {"changes": contact} if contact else None


def step_up_required(action: str) -> Unauthenticated:
    return Unauthenticated(
        f"This change needs your passkey: ask POST /me/step-up for `{action}`, confirm, and send the "
        "`confirmation` with it.",
        code="step_up_required",
    )
