"""Cases: one per problem, opened from wherever the customer is stuck, with the context attached by
the server; the timeline every step of it (customer, agent, system); documents uploaded straight to
S3; agents in the console; call codes that carry the customer from the app to the phone.

models.py      the items (in the customer's partition, so an agent reads everything in one Query)
schemas.py     request bodies and admin events: allow-lists
context.py     what is attached at opening, read through the owning capabilities' services
service.py     opening, the timeline, replies, closing; the agent's actions and their context
documents.py   presigned POST uploads, checked (size, magic bytes) before they are attached
callcodes.py   one-use call codes (HMAC only), verified by agents, with a global guess limit
admin.py       the console's Lambda functions
limits.py      fixed-window counters (per customer, and the global guess window)
messages.py    error messages in French and English
settings.py    the settings cases read
"""
