"""What a job-store call raises: the transition errors the routes and the worker's runner sort, and QueueFull."""

from __future__ import annotations


class TransitionError(Exception):
    """The job is not in a status that allows the requested transition."""


class UnknownJob(TransitionError):
    """No such job: the id is unknown, or not of the shape of a job id at all."""


class StaleDelivery(TransitionError):
    """The task message is an old delivery of a job that was requeued since: it must not run or write."""


class AlreadyRunning(TransitionError):
    """The task message is a duplicate of a run that is still alive (a broker reconnect hands it out again)."""


class QueueFull(Exception):
    """No room for another queued job: the whole queue, or this owner's share of it, is full."""

    def __init__(self, message: str, per_owner: bool) -> None:
        super().__init__(message)
        self.per_owner = per_owner
