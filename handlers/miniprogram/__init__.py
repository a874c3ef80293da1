"""The mini-program channel's domain: what the `/api/v1` routes (bot/api) do, without HTTP.

- identity: signing in (a mini-program openid, linked to the official account's by unionid)
- cases: filing a case (through handlers.cases.new_cases, as a first official-account message does),
  the citizen's cases and one case's public view, follow-ups, the return-visit rating
- uploads, subscriptions (one-time subscribe consents), idempotency (Idempotency-Key replays)

Refusals a citizen should read are raised as `Refused` (handlers.miniprogram.errors), in Chinese.
"""
