"""The one base class of infrastructure failures, whichever service failed (LLM server, sandbox, storage).

An infrastructure failure says nothing about the sample being made: it must fail the pipeline task (a rerun
resumes it), never be recorded as a rejection. Each service's errors subclass this, so a step can let every
infrastructure failure through without knowing which services a rollout talks to, and still report which one it
was.
"""


class InfrastructureError(RuntimeError):
    """A service the pipeline depends on could not do its job; retry the task later."""
