"""Jobs: what the client builds from a user's call and hands to a compute backend."""

from lithops.job.job import JobRequest, call_id_of, job_prefix
from lithops.job.status import CallStatus

__all__ = ["CallStatus", "JobRequest", "call_id_of", "job_prefix"]
