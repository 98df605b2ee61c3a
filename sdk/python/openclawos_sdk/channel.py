"""ChannelApp: an App that connects a messaging platform to the kernel (SPEC §4.4).

Inbound: call ``inbound(conversation, text, **metadata)`` for each platform message; it becomes
``agent.queue {sessionKey: "<channel>:<conversation>", text, metadata}``.

Outbound: the kernel delivers replies to the channel's owner as the last step of the
``message_sending`` chain, as an event ``hook:message_sending`` whose ``data`` is ``{channelId,
target, content, metadata}``. The SDK calls ``deliver(target, content, metadata)`` and acknowledges
with ``hook.result {eventId, result: {delivered: true, messageId?}}``, or ``{delivered: false,
error}`` when deliver raises (the kernel keeps the reply in its outbox and retries with backoff).
"""

from __future__ import annotations

from typing import Any, Optional

from .app import App
from .protocol import KernelError

MESSAGE_SENDING = "message_sending"


class ChannelApp(App):
    """Base class of a channel app. Set ``channel_id`` (class attribute) or let it default to the
    first entry of ``capabilities.channels.provides``; implement ``deliver``.

    The channel is registered (``capability.register {type:"channel", config:{id}}``) after
    ``setup()`` returns and before ``app.ready``, so deliveries start only once setup has
    connected to the platform. A message_sending event for another channel id (an app that also
    intercepts message_sending) goes to the handlers given to ``subscribe`` instead.
    """

    channel_id: str = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.channel_id:
            provides = (self.manifest.get("capabilities", {}).get("channels", {})
                        .get("provides", []))
            if provides and isinstance(provides[0], str):
                self.channel_id = provides[0]
        if not self.channel_id:
            raise ValueError("ChannelApp needs channel_id or capabilities.channels.provides")

    async def deliver(self, target: str, content: Any, metadata: dict) -> Optional[str]:
        """Sends ``content`` to ``target`` on the platform; returns the platform's message id
        (or None). Raise to report the delivery as failed."""
        raise NotImplementedError("ChannelApp subclasses implement deliver()")

    async def inbound(self, conversation: str, text: str, **metadata: Any) -> dict:
        """Queues an inbound message for the agent; returns ``{runId, queued}``.

        ``metadata`` carries the SPEC §4.4 fields (``from``, ``chatType``, ``groupId``,
        ``messageId``, ``senderName``, ``mentioned``, ``accountId``); ``channelId`` is filled in.
        Use ``**{"from": user}`` since ``from`` is a Python keyword.
        """
        metadata.setdefault("channelId", self.channel_id)
        return await self.client.request("agent.queue", {
            "sessionKey": f"{self.channel_id}:{conversation}", "text": text,
            "metadata": metadata})

    async def _before_ready(self) -> None:
        await self._register_capability("channel", self.channel_id, {"id": self.channel_id},
                                        lambda: None)
        self._ensure_hook_listener(MESSAGE_SENDING)

    async def _handle_special_hook(self, hook: str, payload: dict) -> bool:
        if hook != MESSAGE_SENDING or payload.get("delivery") is not True:
            return False
        data = payload.get("data")
        if not isinstance(data, dict):
            return False
        channel = data.get("channelId")
        if channel is not None and channel != self.channel_id:
            return False
        await self.hook_result(payload.get("eventId"), await self._deliver_one(data))
        return True

    async def _deliver_one(self, data: dict) -> dict:
        metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
        delivery_id = metadata.get("deliveryId")
        recent = getattr(self, "_recent_deliveries", None)
        if recent is None:
            recent = self._recent_deliveries = {}
        if isinstance(delivery_id, str) and delivery_id in recent:
            # The kernel retries a delivery whose acknowledgement it did not record: acknowledge
            # again without sending twice (per process: across an app restart, at least once).
            return recent[delivery_id]
        in_progress = getattr(self, "_deliveries_in_progress", None)
        if in_progress is None:
            in_progress = self._deliveries_in_progress = set()
        if isinstance(delivery_id, str) and delivery_id in in_progress:
            return {"delivered": False, "error": f"delivery {delivery_id} is still in progress"}
        if isinstance(delivery_id, str):
            in_progress.add(delivery_id)
        try:
            result = await self._send_one(data, metadata)
        finally:
            in_progress.discard(delivery_id)
        if result.get("delivered") and isinstance(delivery_id, str):
            recent[delivery_id] = result
            while len(recent) > 1024:
                recent.pop(next(iter(recent)))
        return result

    async def _send_one(self, data: dict, metadata: dict) -> dict:
        try:
            message_id = await self.deliver(data.get("target"), data.get("content"), metadata)
        except KernelError as e:
            self.log.warning("delivery to %s failed: %s", data.get("target"), e)
            return {"delivered": False, "error": e.message, "code": e.code}
        except Exception as e:
            self.log.exception("delivery to %s failed", data.get("target"))
            return {"delivered": False, "error": f"{type(e).__name__}: {e}"}
        result: dict = {"delivered": True}
        if message_id is not None:
            result["messageId"] = str(message_id)
        return result


__all__ = ["ChannelApp"]
