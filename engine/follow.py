"""Following the event log: in order, after a position, filtered by topic.

In-process indexes (due timers, the API's pathway and task directory) read only
what was appended since they last looked. The end of the log is read first and
used as the upper bound, so an event committed while a filtered batch is read is
picked up next time rather than skipped.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any


class LogFollower:
    def __init__(self, app, topics: Sequence[str], batch: int = 1000):
        self._app = app
        self._topics = list(topics)
        self._batch = batch
        self.position = 0

    def new_events(self) -> Iterator[tuple[int, Any]]:
        """(notification id, domain event) for each event appended since the last call."""
        recorder, mapper = self._app.recorder, self._app.mapper
        while True:
            latest = recorder.max_notification_id() or 0
            if latest <= self.position:
                return
            notes = recorder.select_notifications(start=self.position + 1, limit=self._batch, stop=latest,
                                                  topics=self._topics)
            for note in notes:
                yield note.id, mapper.to_domain_event(note)
                self.position = note.id
            if len(notes) < self._batch:
                self.position = max(self.position, latest)  # filtered: all up to `latest` is seen
                return
