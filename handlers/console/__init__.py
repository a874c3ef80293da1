"""The web console's data (plain dataclasses, no HTTP): the queue with its filters, one case in full, and
the forms' actions, which run the chat's own staff commands (`handlers/routers/staff.py`)."""
