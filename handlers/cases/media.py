"""Media a citizen sends (images, voice, video): kept by WeChat for 3 days, so fetched by a durable job."""

from __future__ import annotations

MEDIA_TYPES = frozenset({"image", "voice", "video"})
DOWNLOAD_MEDIA = "media.download"  # {media_id, message_id, msg_type}: run by bot.outbound.citizen.MediaDownloader
# How a message that is not text reads in a summary or a digest, before its text (a voice's recognition, …).
LABELS = {"image": "[图片]", "voice": "[语音]", "video": "[视频]", "location": "[位置]", "link": "[链接]"}
