"""The payment provider's secrets, from a secret source: `ssm:<parameter name>` (SecureString),
`secretsmanager:<secret id>`, `file:<path>` or `env:<VARIABLE>` (the last two for local runs).

Read once per container (the gateway is built once) and handed to the adapter only; a secret's
value never appears in a log line or an exception message: errors name the source, not the value.
"""

from __future__ import annotations

import os
from pathlib import Path

from chalicelib.errors import ServiceMisconfigured


def read_secret(source: str) -> str:
    scheme, _, location = source.partition(":")
    if not location:
        raise ServiceMisconfigured(
            "A secret source must be ssm:<name>, secretsmanager:<id>, file:<path> or env:<VAR>."
        )
    try:
        if scheme == "ssm":
            import boto3  # only in AWS: keeps boto3's client setup off local runs

            value = boto3.client("ssm").get_parameter(Name=location, WithDecryption=True)["Parameter"][
                "Value"
            ]
        elif scheme == "secretsmanager":
            import boto3

            value = boto3.client("secretsmanager").get_secret_value(SecretId=location)["SecretString"]
        elif scheme == "file":
            value = Path(location).read_text()
        elif scheme == "env":
            value = os.environ.get(location, "")
        else:
            raise ServiceMisconfigured(
                "A secret source must be ssm:<name>, secretsmanager:<id>, file:<path> or env:<VAR>."
            )
    except ServiceMisconfigured:
        raise
    except Exception as error:  # noqa: BLE001 - the cause's text could quote the value: name the source only
        raise ServiceMisconfigured(
            f"The secret at {scheme}:{location} could not be read ({type(error).__name__})."
        ) from None
    value = value.strip()
    if not value:
        raise ServiceMisconfigured(f"The secret at {scheme}:{location} is empty.")
    return value
