"""Names vulture (the dead-code check of `make lint`) cannot see being used. Keep it short: anything else
it reports is dead code to remove.

- ORM fields, enum members and Meta options are read by Tortoise and by the database, not by our code.
- QuickPrpCrypto.get_random_string overrides a hook wechatpy calls.
- TypedDict fields that only a sender writes back (bookkeeping), attributes set on ORM rows before save.
"""

# ruff: noqa
# fmt: off
_.get_random_string
response_url_failed
_.last_citizen_message_at
_.updated_at
ENTERPRISE
SCHOOL
COMMUNITY
STUDIO
ROOM
TOPIC
updated_at
last_citizen_message_at
closed_at
author
ordering
used_at
used_by
lease_until
done_at
unique_together
pytestmark
unused  # tests/test_routing.py: a parameter nobody passes, on purpose
visit_open  # read by bot/web/templates/case.html
_.binary_location  # Selenium's ChromeOptions: which browser to start
part_channels  # TypedDict keys delivery writes back as bookkeeping (handlers/payloads.py)
response_parts_sent
event_window_sends  # ORM field, written through models/window.py's F() expressions
timed_out_parts
timed_out_late
visit_open  # handlers/cases/case_page.py: read by the template bot/web/templates/case.html
_.binary_location  # tests/test_case_page_browser.py: read by Selenium
external_id  # models/hotline.py: written through models/bulk.py rows and read by raw SQL
address
imported_at
finished_at  # models/delivery.py: when TEMPLATESENDJOBFINISH told the outcome, kept for operators
_.accepted_at  # models/entities.py: Case, written by the accept action, read in SQL by handlers/reports/members.py
published_at  # models/topics.py: when an opinion became public, kept for operators and reports
added_by  # LeadTopicCase: who marked the lead, and when (kept for the record)
added_at
# handlers/reports/documents.py: attributes python-docx, fontTools and reportlab read
alignment
subject
name_IDs
notdef_outline
layout_features
hinting
desubroutinize
glyphOrder
tableVersion
maxZones
indexToLocFormat
glyphDataFormat
formatType
sfntVersion
string  # a fontTools name record
# The web console's dataclass fields and texts that only its jinja2 templates read (bot/web/templates/console/).
source_zh
can_assign
can_transfer
can_reply
can_merge
can_reject
can_visit
suggested_member
due_left
LOGIN_TITLE
TITLE
COMING_SOON
COMING_SOON_TEXT
LOGOUT
QUEUE_TITLE
OVERDUE
URGENT
LIVE_ON
LIVE_OFF
CASE_TITLE
NO_MESSAGES
NO_REPLIES
VISIT_NONE
VOICE_NOT_SAVED
MEDIA_NOT_SAVED
SUGGESTED
FILTERS
# The console's figure pages: what only bot/web/templates/console/figure.html reads.
heat
export_href
SHOW
CLEAR
ALL_OPTION
EXPORT
EXPORT_CSV
EXPORT_XLSX
HEAT_TITLE
HEAT_HINT
more_rows
