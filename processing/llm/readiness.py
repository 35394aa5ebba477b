"""Waiting for a server someone else runs: an HF Inference Endpoint that is scaled to zero or still loading answers
503 for minutes, and a first request sent then would only be retried. Readiness is checked once, before any.
"""

from __future__ import annotations

import time

import httpx2
from loguru import logger

from cursorcore.processing.llm.errors import ServerStartError

WAITING_STATUSES = frozenset({429, 502, 503, 504})  # busy, or a proxy in front of a server that is not up yet


def wait_for_inference_endpoint(name: str, token: str | None, timeout: float) -> None:
    """Bring the HF Inference Endpoint `name` (`namespace/name` or `name`) up through the Hub API.

    A paused endpoint is resumed; one being deployed is waited for with huggingface_hub's `InferenceEndpoint.wait`
    (which polls the Hub until it runs and its health route answers). One scaled to zero only wakes on a request:
    the health checks of `wait_until_ready` are that request.
    """
    from huggingface_hub import get_inference_endpoint
    from huggingface_hub.errors import InferenceEndpointError, InferenceEndpointTimeoutError

    namespace, _, endpoint_name = name.rpartition("/")
    endpoint = get_inference_endpoint(endpoint_name, namespace=namespace or None, token=token)
    status = getattr(endpoint.status, "value", endpoint.status)
    logger.info(f"Inference Endpoint {name} is {status}")
    if status in ("running", "scaledToZero"):
        return
    if status == "paused":
        endpoint.resume()
    logger.info(f"waiting up to {timeout:g}s for Inference Endpoint {name} to run")
    try:
        endpoint.wait(timeout=int(timeout), refresh_every=10)
    except (InferenceEndpointError, InferenceEndpointTimeoutError) as error:
        raise ServerStartError(f"Inference Endpoint {name} did not start: {error}") from error


def wait_until_ready(
    url: str,
    paths: tuple[str, ...],
    *,
    headers: dict[str, str],
    timeout: float,
    refused_timeout: float,
    trust_env: bool = True,
    poll_initial: float = 1.0,
    poll_max: float = 30.0,
) -> None:
    """Poll `url + path` (the first path the server has) until one answers 200, showing progress.

    429/5xx answers (starting, scaled to zero, busy) are waited out up to `timeout` seconds; refused connections
    (nothing listens) only up to `refused_timeout`. Any other answer (401, a wrong URL) fails at once.
    """
    started = time.monotonic()
    delay = poll_initial
    with httpx2.Client(timeout=30, trust_env=trust_env, headers=headers) as http:
        while True:
            state, refused = _probe(http, url, paths)
            if state is None:
                if time.monotonic() - started > 1:
                    logger.info(f"{url} is ready after {time.monotonic() - started:.0f}s")
                return
            waited = time.monotonic() - started
            if waited >= (refused_timeout if refused else timeout):
                raise ServerStartError(f"{url} is not ready after {waited:.0f}s: {state}")
            logger.info(f"waiting for {url}: {state} ({waited:.0f}s of at most {timeout:g}s)")
            time.sleep(delay)
            delay = min(poll_max, delay * 2)


def _probe(http: httpx2.Client, url: str, paths: tuple[str, ...]) -> tuple[str | None, bool]:
    """(None, _) when ready; else what the server said and whether the connection was refused."""
    state = "no readiness route answered"
    for path in paths:
        try:
            response = http.get(url + path)
        except httpx2.ConnectError as error:
            return f"connection refused ({error})", True
        except httpx2.TransportError as error:
            return f"{type(error).__name__}: {error}", False
        if response.is_success:
            return None, False
        if response.status_code in WAITING_STATUSES:
            return f"{path} answers {response.status_code} {response.text[:200].strip()}", False
        if response.status_code not in (404, 405):
            raise ServerStartError(f"{url}{path} answers {response.status_code}: {response.text[:300].strip()}")
        state = f"{path} answers {response.status_code}"
    raise ServerStartError(f"{url} has none of the readiness routes {', '.join(paths)} ({state})")
