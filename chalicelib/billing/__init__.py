"""Bills and payments.

- `bills`: import from the billing system (admin), the customer's bills, reminders.
- `methods`: payment methods (provider tokens only, never card data), the default, autopay.
- `gateway`: the PaymentGateway port and the SandboxGateway; a real provider is one new module.
- `pan`: refuses anything that looks like a card number, anywhere in a request.
- `idempotency`: Idempotency-Key handling (same key + same body → same answer; other body → 422).
- `payments`: step-up challenge bound to the transaction, paying, the sweeper, autopay.
"""
