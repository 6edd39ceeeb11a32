"""Guest modules of the sandbox tests, as WAT: hostile ones and small well-behaved ones.

Every guest follows the ABI's exports (memory, alloc, execute) so that it passes
``wasm::validate`` and its hostility shows at execution. ``alloc`` is a bump allocator that does
not grow memory (inputs here are small).
"""

from __future__ import annotations

_ALLOC = """
  (global $heap (mut i32) (i32.const 1024))
  (func $alloc (export "alloc") (param $len i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $len)))
    (local.get $p))
"""


def guest(body: str, *, imports: str = "", memory: str = '(memory (export "memory") 1)',
          alloc: str = _ALLOC) -> str:
    """A module: ``imports``, ``memory``, ``alloc``, then ``body`` (which exports ``execute``)."""
    return f"(module {imports} {memory} {alloc} {body})"


def answering(json_text: str) -> str:
    """A guest whose ``execute`` answers the constant ``json_text`` (ASCII)."""
    data = json_text.replace("\\", "\\\\").replace('"', '\\"')
    return guest(f"""
      (data (i32.const 64) "{data}")
      (func (export "execute") (param i32 i32) (result i64)
        (i64.or (i64.shl (i64.const 64) (i64.const 32)) (i64.const {len(json_text)})))""")


INFINITE_LOOP = guest("""
  (func (export "execute") (param i32 i32) (result i64)
    (loop $spin (br $spin))
    (i64.const 0))""")

MEMORY_BOMB = guest("""
  (func (export "execute") (param i32 i32) (result i64)
    (loop $grow (br_if $grow (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
    unreachable)""")

MEMORY_BOMB_IGNORING_FAILURE = guest("""
  (func (export "execute") (param i32 i32) (result i64)
    (loop $grow (drop (memory.grow (i32.const 1))) (br $grow))
    (i64.const 0))""")

DEEP_RECURSION = guest("""
  (func $down (export "execute") (param i32 i32) (result i64)
    (call $down (i32.add (local.get 0) (i32.const 1)) (local.get 1)))""")

OUT_OF_BOUNDS = guest("""
  (func (export "execute") (param i32 i32) (result i64)
    (i64.load (i32.const -8)))""")

UNREACHABLE = guest("""
  (func (export "execute") (param i32 i32) (result i64) unreachable)""")

DIVIDE_BY_ZERO = guest("""
  (func (export "execute") (param i32 i32) (result i64)
    (i64.extend_i32_u (i32.div_u (i32.const 1) (i32.sub (local.get 1) (local.get 1)))))""")

NOT_JSON = answering("this is not json")

OUTPUT_OUTSIDE_MEMORY = guest("""
  (func (export "execute") (param i32 i32) (result i64)
    (i64.or (i64.shl (i64.const 4294901760) (i64.const 32)) (i64.const 100)))""")

HUGE_OUTPUT = guest("""
  (func (export "execute") (param i32 i32) (result i64) (i64.const 2147483647))""")

BAD_ALLOC = guest(
    """(func (export "execute") (param i32 i32) (result i64) (i64.const 0))""",
    alloc="""(func (export "alloc") (param i32) (result i32) (i32.const -16))""")

HUGE_INITIAL_MEMORY = guest(
    """(func (export "execute") (param i32 i32) (result i64) (i64.const 0))""",
    memory='(memory (export "memory") 2000)')

LOOP_IN_START = guest("""
  (start $boot)
  (func $boot (loop $spin (br $spin)))
  (func (export "execute") (param i32 i32) (result i64) (i64.const 0))""")

ECHO = guest("""
  (func (export "execute") (param $ptr i32) (param $len i32) (result i64)
    (i64.or (i64.shl (i64.extend_i32_u (local.get $ptr)) (i64.const 32))
            (i64.extend_i32_u (local.get $len))))""")

UNKNOWN_IMPORT = guest(
    """(func (export "execute") (param i32 i32) (result i64) (i64.const 0))""",
    imports='(import "env" "system" (func (param i32)))')

MISTYPED_HOST_CALL = guest(
    """(func (export "execute") (param i32 i32) (result i64) (i64.const 0))""",
    imports='(import "env" "host_call" (func (param i32) (result i32)))')

IMPORTED_MEMORY = guest(
    """(func (export "execute") (param i32 i32) (result i64) (i64.const 0))""",
    imports='(import "env" "memory" (memory 1))', memory="")

NO_EXECUTE = guest("")

WASI_HELLO = guest("""
  ;; iovec {ptr 32, len 5} at 16; "hello" at 32; the answer "ok" at 64
  (data (i32.const 16) "\\20\\00\\00\\00\\05\\00\\00\\00")
  (data (i32.const 32) "hello")
  (data (i32.const 64) "\\"ok\\"")
  (func (export "execute") (param i32 i32) (result i64)
    (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 8)))
    (i64.or (i64.shl (i64.const 64) (i64.const 32)) (i64.const 4)))""",
    imports='(import "wasi_snapshot_preview1" "fd_write" '
            '(func $fd_write (param i32 i32 i32 i32) (result i32)))')

HOST_LOG_OUTSIDE_MEMORY = guest("""
  (func (export "execute") (param i32 i32) (result i64)
    (call $log (i32.const -100) (i32.const 50))
    (i64.const 0))""", imports='(import "env" "host_log" (func $log (param i32 i32)))')

HOST_CALL_TWICE = guest("""
  ;; calls the host with its input twice, answers the second reply
  (func (export "execute") (param $ptr i32) (param $len i32) (result i64)
    (drop (call $call (local.get $ptr) (local.get $len)))
    (call $call (local.get $ptr) (local.get $len)))""",
    imports='(import "env" "host_call" (func $call (param i32 i32) (result i64)))')

HOST_CALL_FOREVER = guest("""
  ;; calls the host with its input until the host says no, answers that reply
  (func (export "execute") (param $ptr i32) (param $len i32) (result i64)
    (local $answer i64)
    (loop $again
      (local.set $answer (call $call (local.get $ptr) (local.get $len)))
      ;; replies start {"ok":true or {"ok":false: byte 6 is 't' (116) while it succeeds
      (br_if $again (i32.eq (i32.load8_u (i32.add (i32.wrap_i64 (i64.shr_u (local.get $answer)
                                                                          (i64.const 32)))
                                                  (i32.const 6)))
                            (i32.const 116))))
    (local.get $answer))""",
    imports='(import "env" "host_call" (func $call (param i32 i32) (result i64)))')

ALLOC_TRAPS_ON_HOST_ANSWER = guest(
    """(func (export "execute") (param $ptr i32) (param $len i32) (result i64)
         (global.set $armed (i32.const 1))
         (call $call (local.get $ptr) (local.get $len)))""",
    imports='(import "env" "host_call" (func $call (param i32 i32) (result i64)))',
    alloc="""
      (global $armed (mut i32) (i32.const 0))
      (func (export "alloc") (param i32) (result i32)
        (if (global.get $armed) (then unreachable))
        (i32.const 1024))""")

HOST_CALL_THEN_SPIN = guest("""
  ;; tells the host it started (a host_call with its input), then spins until stopped
  (func (export "execute") (param $ptr i32) (param $len i32) (result i64)
    (drop (call $call (local.get $ptr) (local.get $len)))
    (loop $spin (br $spin))
    (i64.const 0))""",
    imports='(import "env" "host_call" (func $call (param i32 i32) (result i64)))')
