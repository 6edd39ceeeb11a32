;; host_call: forwards its input, {"function_id": "svc::fn", "args": ...}, to env.host_call and
;; answers with the host's reply verbatim: {"ok": true, "result": ...} or {"ok": false, "error":
;; {"code", "message"}}. Logs one line through env.host_log first.
;; Guest ABI v1 (see workers/wasm_sandbox/abi.py).
(module
  (import "env" "host_log" (func $host_log (param i32 i32)))
  (import "env" "host_call" (func $host_call (param i32 i32) (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "calling the host")         ;; 16 bytes
  (global $heap (mut i32) (i32.const 1024))

  (func $alloc (export "alloc") (param $len i32) (result i32)
    (local $ptr i32) (local $end i32) (local $have i32)
    (local.set $ptr (i32.and (i32.add (global.get $heap) (i32.const 7)) (i32.const -8)))
    (local.set $end (i32.add (local.get $ptr) (local.get $len)))
    (local.set $have (i32.shl (memory.size) (i32.const 16)))
    (if (i32.gt_u (local.get $end) (local.get $have))
      (then
        (if (i32.eq
              (memory.grow (i32.add (i32.shr_u (i32.sub (local.get $end) (local.get $have))
                                               (i32.const 16))
                                    (i32.const 1)))
              (i32.const -1))
          (then unreachable))))
    (global.set $heap (local.get $end))
    (local.get $ptr))

  (func (export "execute") (param $ptr i32) (param $len i32) (result i64)
    (call $host_log (i32.const 0) (i32.const 16))
    (call $host_call (local.get $ptr) (local.get $len)))
)
