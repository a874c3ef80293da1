"""Media a citizen sends (images, voice, video): kept by WeChat for 3 days, so fetched by a durable job."""

from __future__ import annotations

MEDIA_TYPES = frozenset({"image", "voice", "video"})
DOWNLOAD_MEDIA = "media.download"  # {media_id, message_id, msg_type}: run by bot.outbound.citizen.MediaDownloader
