;; sum: adds up the integers in its JSON input and answers {"sum": N}.
;;   [1, 2, -3, 40]  ->  {"sum":40}
;; Every run of digits counts as an integer (a preceding '-' makes it negative), so it also
;; works on {"numbers": [1, 2]}; fractions and exponents are not understood.
;; Guest ABI v1 (see workers/wasm_sandbox/abi.py): exports memory, alloc, execute; no imports.
(module
  (memory (export "memory") 1)
  (data (i32.const 0) "{\"sum\":")                 ;; 7 bytes; [64, 96) is scratch for digits
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
    (local $i i32) (local $c i32) (local $sum i64) (local $cur i64)
    (local $negative i32) (local $in_number i32)
    (local $v i64) (local $p i32) (local $n i32) (local $out i32)
    ;; scan: one position past the end acts as a terminator
    (block $done
      (loop $next
        (if (i32.lt_u (local.get $i) (local.get $len))
          (then (local.set $c (i32.load8_u (i32.add (local.get $ptr) (local.get $i)))))
          (else (local.set $c (i32.const 0))))
        (if (i32.and (i32.ge_u (local.get $c) (i32.const 48)) (i32.le_u (local.get $c) (i32.const 57)))
          (then
            (local.set $in_number (i32.const 1))
            (local.set $cur (i64.add (i64.mul (local.get $cur) (i64.const 10))
                                     (i64.extend_i32_u (i32.sub (local.get $c) (i32.const 48))))))
          (else
            (if (local.get $in_number)
              (then
                (if (local.get $negative)
                  (then (local.set $sum (i64.sub (local.get $sum) (local.get $cur))))
                  (else (local.set $sum (i64.add (local.get $sum) (local.get $cur)))))
                (local.set $in_number (i32.const 0))
                (local.set $cur (i64.const 0))))
            (local.set $negative (i32.eq (local.get $c) (i32.const 45)))))
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    ;; format |sum| backwards into [64, 96), then the sign
    (local.set $v (local.get $sum))
    (if (i64.lt_s (local.get $v) (i64.const 0))
      (then (local.set $v (i64.sub (i64.const 0) (local.get $v)))))
    (local.set $p (i32.const 96))
    (loop $digit
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p)
                  (i32.add (i32.const 48) (i32.wrap_i64 (i64.rem_u (local.get $v) (i64.const 10)))))
      (local.set $v (i64.div_u (local.get $v) (i64.const 10)))
      (br_if $digit (i64.ne (local.get $v) (i64.const 0))))
    (if (i64.lt_s (local.get $sum) (i64.const 0))
      (then
        (local.set $p (i32.sub (local.get $p) (i32.const 1)))
        (i32.store8 (local.get $p) (i32.const 45))))
    (local.set $n (i32.sub (i32.const 96) (local.get $p)))
    ;; {"sum": + digits + }
    (local.set $out (call $alloc (i32.add (local.get $n) (i32.const 8))))
    (memory.copy (local.get $out) (i32.const 0) (i32.const 7))
    (memory.copy (i32.add (local.get $out) (i32.const 7)) (local.get $p) (local.get $n))
    (i32.store8 (i32.add (local.get $out) (i32.add (local.get $n) (i32.const 7))) (i32.const 125))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $out)) (i64.const 32))
            (i64.extend_i32_u (i32.add (local.get $n) (i32.const 8)))))
)
