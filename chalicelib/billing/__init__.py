"""Bills and payments.

- `bills`: import from the billing system (admin), the customer's bills, reminders.
- `methods`: payment methods (provider tokens only, never card data), the default, autopay.
- `gateway`: the PaymentGateway port (its dataclasses and exceptions) and the choice of adapter;
  `sandbox_gateway` (local runs, tests) and `stripe_gateway` (Stripe PaymentIntents) implement it.
- `payments`: step-up challenge bound to the transaction (with its statement), paying, autopay.
- `settlement`: the one place a payment leaves `pending` (the charge checked against the payment,
  late charges refunded), the sweeper.
- `provider_events`: the provider's webhook, settled through `settlement`.
- `idempotency`: Idempotency-Key handling (same key + same body → same answer; other body → 422).
- `money`: formatting minor units for people, strict integer amounts in requests.
- `jobs`: what the batch jobs share (raw index reads, one item at a time, metrics).
- `secrets`: the provider's secrets from their source (SSM, Secrets Manager, file, env).
- `pan`: refuses anything that looks like a card number, anywhere in a request.
"""
