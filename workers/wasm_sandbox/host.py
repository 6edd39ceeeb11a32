"""The host side of ``env.host_call`` and ``env.host_log``: from a guest's thread to the bus.

Theory of operation
-------------------
A guest runs in a worker thread (``anyio.to_thread.run_sync``); its ``host_call`` arrives there,
synchronously. :meth:`HostBridge.call` parses the request, counts it, and hands the rest to the
worker's event loop with ``anyio.from_thread.run`` — the thread blocks, the loop runs the check
and the onward ``ctx.trigger``, and the JSON answer comes back. The loop is free to do so: the
handler that started the guest is parked in ``to_thread.run_sync``, not blocking.

Why this cannot deadlock (or hang):

1. **No cycles through the sandbox.** ``wasm::*`` is never callable from a guest, whatever the
   allowlist says, so a guest cannot wait on a slot that guests hold.
2. **Everything is bounded by the execution's deadline.** A host call gets
   ``min(remaining, host_call_timeout_s)`` as its timeout, the capability check too, and once the
   deadline has passed calls are answered ``wasm_timeout`` at once; the guest is then interrupted
   by the epoch at its next loop or call. So a cycle through other workers (a guest calling a
   tool that runs code in the sandbox) ends at the deadline at worst.
3. **Waiting for a slot is bounded** (``queue_timeout_s``, ``max_queued``; see :mod:`.worker`).

Policy, per call, in order: at most ``max_host_calls``; never ``wasm::*``; the function must
match a glob of the config's ``host_functions`` *and*, if the request narrowed it, one of the
request's ``host_functions``; then, with an agent, ``security::check_capability {agent_id,
capability: "tool", resource: function_id}`` when registered — ``function_not_found`` falls back
to the allowlist alone, any other failure or a malformed answer refuses (fail closed).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from fnmatch import fnmatchcase
from typing import Any

import anyio
import anyio.from_thread

from workers.sdk import Context, FunctionNotFound, InvocationError

from .abi import BadHostRequest, HostRequest, host_error, host_ok, parse_host_request
from .config import SandboxConfig
from .errors import FORBIDDEN_HOST_CALL, HOST_CALL_LIMIT

__all__ = ["CHECK_CAPABILITY", "HostBridge", "check_capability"]

log = logging.getLogger(__name__)
guest_log = logging.getLogger("workers.wasm_sandbox.guest")

CHECK_CAPABILITY = "security::check_capability"
_NEVER = "wasm::*"


async def check_capability(ctx: Context, agent_id: str, capability: str, resource: str,
                           timeout: float) -> bool | None:
    """``security::check_capability``'s verdict, or None when no such function is registered.

    Fails closed: an error or a malformed answer is False.
    """
    payload = {"agent_id": agent_id, "capability": capability, "resource": resource}
    answer: Any = None
    with anyio.move_on_after(timeout) as scope:
        try:
            answer = await ctx.trigger(CHECK_CAPABILITY, payload, timeout=timeout)
        except FunctionNotFound:
            return None
        except InvocationError as exc:
            log.warning("%s for %s %s of %s failed (%s): denying", CHECK_CAPABILITY, capability,
                        resource, agent_id, exc)
            return False
    if scope.cancelled_caught:
        log.warning("%s timed out for %s %s of %s: denying", CHECK_CAPABILITY, capability,
                    resource, agent_id)
        return False
    if not isinstance(answer, dict) or not isinstance(answer.get("allowed"), bool):
        log.warning("malformed answer of %s: %r; denying", CHECK_CAPABILITY, answer)
        return False
    return bool(answer["allowed"])


class HostBridge:
    """The :class:`~.runtime.Host` of one execution. Build it on the event loop, use it in the
    guest's thread.

    Args:
        ctx: the ``wasm::execute`` invocation (host calls go out in its realm and trace).
        config: the sandbox settings.
        agent_id: the agent the guest runs for (None: no capability re-check is possible).
        narrow: the request's own ``host_functions`` globs (None: the config's alone).
        deadline: the execution's deadline, on ``clock``.
        clock: monotonic seconds.
    """

    def __init__(self, ctx: Context, config: SandboxConfig, *, agent_id: str | None,
                 narrow: Sequence[str] | None, deadline: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ctx, self.config, self.agent_id = ctx, config, agent_id
        self.narrow = tuple(narrow) if narrow is not None else None
        self.deadline, self.clock = deadline, clock
        self.calls: list[dict[str, Any]] = []
        self.logs: list[str] = []
        self.dropped_logs = 0

    # -- the guest's thread ----------------------------------------------------------------

    def log(self, line: str) -> None:
        if len(self.logs) >= self.config.max_log_lines:
            self.dropped_logs += 1
            return
        self.logs.append(line)
        guest_log.info("guest of %s: %s", self.agent_id or "-", line)

    def call(self, request: bytes) -> bytes:
        try:
            req = parse_host_request(request)
        except BadHostRequest as exc:
            return host_error("invalid_request", str(exc))
        if len(self.calls) >= self.config.max_host_calls:
            return host_error(HOST_CALL_LIMIT, f"at most {self.config.max_host_calls} host calls "
                              "per execution")
        record: dict[str, Any] = {"function_id": req.function_id, "ok": False}
        self.calls.append(record)
        try:
            answer, code = anyio.from_thread.run(self._call, req)
        except Exception:  # the loop is gone, or a bug: the guest gets an answer either way
            log.exception("host call to %s failed", req.function_id)
            answer, code = host_error("internal_error", "the host could not make the call"), "internal_error"
        record["ok"] = code is None
        if code is not None:
            record["code"] = code
        return answer

    # -- the event loop --------------------------------------------------------------------

    async def _call(self, req: HostRequest) -> tuple[bytes, str | None]:
        remaining = self.deadline - self.clock()
        if remaining <= 0:
            return host_error("wasm_timeout", "the execution's deadline has passed"), "wasm_timeout"
        timeout = min(remaining, self.config.host_call_timeout_s)
        refusal = await self._refusal(req.function_id, timeout)
        if refusal is not None:
            return host_error(FORBIDDEN_HOST_CALL, refusal), FORBIDDEN_HOST_CALL
        metadata = {"agent_id": self.agent_id} if self.agent_id is not None else None
        result: Any = None
        with anyio.move_on_after(timeout) as scope:
            try:
                result = await self.ctx.trigger(req.function_id, req.args, timeout=timeout,
                                                metadata=metadata)
            except InvocationError as exc:
                return host_error(exc.code, exc.message), exc.code
        if scope.cancelled_caught:
            return host_error("timeout", f"{req.function_id} did not answer within "
                              f"{timeout:.3f}s"), "timeout"
        try:
            answer = host_ok(result)
        except (TypeError, ValueError):
            return host_error("internal_error", "the result is not JSON"), "internal_error"
        if len(answer) > self.config.max_host_payload_bytes:
            code = "wasm_host_result_too_large"
            return host_error(code, f"the result exceeds {self.config.max_host_payload_bytes} "
                              "bytes"), code
        return answer, None

    async def _refusal(self, function_id: str, timeout: float) -> str | None:
        """None if the guest may call ``function_id``, else why not."""
        if fnmatchcase(function_id, _NEVER):
            return f"{function_id}: the sandbox's own functions are never callable from a guest"
        if not any(fnmatchcase(function_id, g) for g in self.config.host_functions):
            return f"{function_id} is not on the sandbox's host-call allowlist"
        if self.narrow is not None and not any(fnmatchcase(function_id, g) for g in self.narrow):
            return f"{function_id} is not among this execution's host_functions"
        if self.agent_id is None:
            return None
        verdict = await check_capability(self.ctx, self.agent_id, "tool", function_id, timeout)
        if verdict is False:
            return f"agent {self.agent_id} may not call {function_id}"
        return None  # True, or None: no security worker, the allowlist decided
