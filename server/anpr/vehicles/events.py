"""Delivery of capture records and hits to subscribers, each with a bounded buffer.

Publishing never waits: an event goes into every interested subscriber's queue at once; a subscriber
whose queue is full cannot keep up and is cut off (its call ends RESOURCE_EXHAUSTED), so a slow
client costs frame processing nothing and memory at most `buffer` events per subscriber.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

from anpr.vehicles.records import CaptureRecord, HotlistHit

Event = CaptureRecord | HotlistHit


@dataclass(eq=False)
class Subscriber:
    camera_prefixes: tuple[str, ...]  # '' is every camera
    captures: bool
    hits: bool
    with_images: bool
    buffer: int
    queue: asyncio.Queue[Event] = field(init=False)
    overflowed: asyncio.Event = field(default_factory=asyncio.Event)
    closed: asyncio.Event = field(default_factory=asyncio.Event)  # no more events will come
    id: int = field(default_factory=itertools.count().__next__)

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue(self.buffer)

    def wants(self, event: Event) -> bool:
        if not (self.hits if isinstance(event, HotlistHit) else self.captures):
            return False
        return any(event.camera_id.startswith(prefix) for prefix in self.camera_prefixes)


class EventHub:
    """The subscribers of one server. Call on the event loop."""

    def __init__(self, buffer: int = 1024, max_subscribers: int = 64) -> None:
        self.buffer = buffer
        self.max_subscribers = max_subscribers
        self._subscribers: set[Subscriber] = set()
        self.disconnected = 0
        self.published = 0

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def subscribe(self, camera_prefixes: tuple[str, ...], captures: bool, hits: bool, with_images: bool) -> Subscriber:
        if len(self._subscribers) >= self.max_subscribers:
            raise OverflowError(f"at most {self.max_subscribers} subscribers")
        subscriber = Subscriber(camera_prefixes, captures, hits, with_images, self.buffer)
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    def close(self) -> None:
        """No more events (shutdown): subscribers end once they have delivered what is queued."""
        for subscriber in self._subscribers:
            subscriber.closed.set()

    def publish(self, event: Event) -> None:
        self.published += 1
        for subscriber in list(self._subscribers):
            if not subscriber.wants(event):
                continue
            try:
                subscriber.queue.put_nowait(event)
            except asyncio.QueueFull:
                self._subscribers.discard(subscriber)
                self.disconnected += 1
                subscriber.overflowed.set()
