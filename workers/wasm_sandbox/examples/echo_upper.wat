;; echo_upper: answers its JSON input with every letter inside strings upper-cased.
;;   {"text": "hello"}  ->  {"TEXT": "HELLO"}
;; Literals (true, false, null) and escapes (\n, \u00e9 -> \u00E9) stay valid JSON.
;; Guest ABI v1 (see workers/wasm_sandbox/abi.py): exports memory, alloc, execute; no imports.
(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))

  ;; A bump allocator: 8-byte aligned, grows memory on demand, traps when it cannot.
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

  ;; Upper-case a..z inside strings, in place, then answer the same bytes.
  (func (export "execute") (param $ptr i32) (param $len i32) (result i64)
    (local $i i32) (local $c i32) (local $in_string i32) (local $escaped i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (local.set $c (i32.load8_u (i32.add (local.get $ptr) (local.get $i))))
        (if (local.get $escaped)
          (then (local.set $escaped (i32.const 0)))
          (else
            (if (local.get $in_string)
              (then
                (if (i32.eq (local.get $c) (i32.const 92))          ;; backslash
                  (then (local.set $escaped (i32.const 1)))
                  (else
                    (if (i32.eq (local.get $c) (i32.const 34))      ;; closing quote
                      (then (local.set $in_string (i32.const 0)))
                      (else
                        (if (i32.and (i32.ge_u (local.get $c) (i32.const 97))
                                     (i32.le_u (local.get $c) (i32.const 122)))
                          (then
                            (i32.store8 (i32.add (local.get $ptr) (local.get $i))
                                        (i32.sub (local.get $c) (i32.const 32))))))))))
              (else
                (if (i32.eq (local.get $c) (i32.const 34))          ;; opening quote
                  (then (local.set $in_string (i32.const 1))))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $ptr)) (i64.const 32))
            (i64.extend_i32_u (local.get $len))))
)
