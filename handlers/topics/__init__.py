"""码上商量: consultation topics (议题), opinions (意见) and supports (附议), without HTTP.

- topics: opening, closing (the outcome to every participant with a consent left) and listing topics
- opinions: posting (after WeChat's content check, whose verdict the bot layer asks for), staff review
  (通过 / 不通过), 附议, the public listing, images' media-check verdicts, and turning one into a case (立案)
"""
