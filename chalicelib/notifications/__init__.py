"""Proactive alerts: every alert is first an inbox item, then a push to the customer's devices.

- `catalog`: the alert kinds, their category, texts (fr, en) and deep links.
- `inbox`: `notify()` — the one function producers call — and the customer's inbox.
- `devices`: push recipients (app installations) and their FCM tokens.
- `preferences`: categories on/off and quiet hours (security alerts always go out).
- `payloads`: the FCM v1 message of an alert, as specified in mobile_contract/push/.
- `senders`: the PushSender port, with Firebase Cloud Messaging and a console stand-in.
- `delivery`: pushes an inbox item to its devices once, driven by the table's stream and a
  scheduled function for deferred pushes.
- `stream`: the table stream's records → security alerts and deliveries.
"""
