"""Fair, bounded scheduling of frames from many cameras into model batches."""

from anpr.scheduling.scheduler import DropReason, FrameScheduler, QueuedFrame, SchedulerPolicy

__all__ = ["DropReason", "FrameScheduler", "QueuedFrame", "SchedulerPolicy"]
