;; Element-wise kernels of the BERT forward pass in WebAssembly SIMD (four float32 lanes), run on
;; the memory of the tfjs wasm backend (imported), so that tensors are read and written in place.
;; Every operation is one IEEE float32 operation (no fused multiply-add), so that the scalar
;; JavaScript in ../_js_kernels.ts, which rounds each step with Math.fround, gives the same bits:
;; that is the cpu backend's path and the reference the tests compare with.
;;
;; Clamps use f32x4.pmin and f32x4.pmax, `b < a ? b : a` and `a < b ? b : a`: one x86 instruction
;; each, where V8 spends about seven on f32x4.min and f32x4.max for their rules on NaN and on
;; zeros of both signs. With the value first and the bound second, a NaN value stays NaN; the one
;; zero bound (Phi's 0) meets a sum 0.5 + 0.5 r, which is never -0. So the bits are min's and max's.
;;
;; Pointers are byte offsets into the memory, 16-byte alignment is not required. Lengths are in
;; elements and must be multiples of 4 (the caller runs the JavaScript loops otherwise).
;;
;; Build: deno task kernels (tools/build_kernels.ts writes ../_simd_wasm.ts).
(module
  (import "env" "memory" (memory 0))

  ;; GELU's y = x Phi(x) = x (0.5 + 0.5 erf(x / sqrt 2)), erf(z) ~ z P(z^2) / Q(z^2) on z clamped
  ;; to [-4, 4] (a rational fit of our own, |error| < 1.4e-7 in float64), Phi clamped to [0, 1];
  ;; GELU within 1.3e-6 of the exact value in float32, 4.7e-7 for |x| < 3. Coefficients: ERF_P
  ;; and ERF_Q in ../_js_kernels.ts, which must hold the same numbers (a test checks the bits).
  ;; The constants live in locals: V8 rebuilds a v128.const each time it is used.
  ;; y[i] = gelu(x[i]) for i < n.
  (func (export "gelu") (param $x i32) (param $y i32) (param $n i32)
    (local $end i32) (local $v v128) (local $z v128) (local $s v128) (local $p v128) (local $q v128)
    (local $p0 v128) (local $p1 v128) (local $p2 v128) (local $p3 v128) (local $p4 v128) (local $p5 v128)
    (local $q1 v128) (local $q2 v128) (local $q3 v128) (local $q4 v128) (local $q5 v128)
    (local $rsqrt2 v128) (local $lo v128) (local $hi v128) (local $half v128) (local $one v128) (local $zero v128)
    (local.set $p0 (f32x4.splat (f32.const 1.1283791065216064)))
    (local.set $p1 (f32x4.splat (f32.const 0.1858798861503601)))
    (local.set $p2 (f32x4.splat (f32.const 0.05219276621937752)))
    (local.set $p3 (f32x4.splat (f32.const 0.0035882925149053335)))
    (local.set $p4 (f32x4.splat (f32.const 0.0002836669737007469)))
    (local.set $p5 (f32x4.splat (f32.const 2.1170721993257757e-06)))
    (local.set $q1 (f32x4.splat (f32.const 0.4980645775794983)))
    (local.set $q2 (f32x4.splat (f32.const 0.1122782826423645)))
    (local.set $q3 (f32x4.splat (f32.const 0.014605240896344185)))
    (local.set $q4 (f32x4.splat (f32.const 0.0011251475661993027)))
    (local.set $q5 (f32x4.splat (f32.const 3.873254172503948e-05)))
    (local.set $rsqrt2 (f32x4.splat (f32.const 0.70710677)))
    (local.set $lo (f32x4.splat (f32.const -4)))
    (local.set $hi (f32x4.splat (f32.const 4)))
    (local.set $half (f32x4.splat (f32.const 0.5)))
    (local.set $one (f32x4.splat (f32.const 1)))
    (local.set $zero (f32x4.splat (f32.const 0)))
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
        (local.set $v (v128.load align=4 (local.get $x)))
        (local.set $z (f32x4.pmin (f32x4.pmax (f32x4.mul (local.get $v) (local.get $rsqrt2)) (local.get $lo))
          (local.get $hi)))
        (local.set $s (f32x4.mul (local.get $z) (local.get $z)))
        ;; P(s) = p0 + s (p1 + s (p2 + s (p3 + s (p4 + s p5)))), Q(s) = 1 + s (q1 + ... s q5)
        (local.set $p (f32x4.add (f32x4.mul (local.get $p5) (local.get $s)) (local.get $p4)))
        (local.set $q (f32x4.add (f32x4.mul (local.get $q5) (local.get $s)) (local.get $q4)))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $s)) (local.get $p3)))
        (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $s)) (local.get $q3)))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $s)) (local.get $p2)))
        (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $s)) (local.get $q2)))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $s)) (local.get $p1)))
        (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $s)) (local.get $q1)))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $s)) (local.get $p0)))
        (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $s)) (local.get $one)))
        ;; y = x min(max(0.5 + 0.5 (z P / Q), 0), 1)
        (v128.store align=4 (local.get $y)
          (f32x4.mul (local.get $v)
            (f32x4.pmin (f32x4.pmax
              (f32x4.add (local.get $half)
                (f32x4.mul (local.get $half) (f32x4.div (f32x4.mul (local.get $z) (local.get $p)) (local.get $q))))
              (local.get $zero)) (local.get $one))))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $y (i32.add (local.get $y) (i32.const 16)))
        (br $next))))

  ;; GELU's y, as `gelu` computes it, and its slope Phi(x) + x phi(x) for the backward pass, with
  ;; phi(x) = exp(-x^2 / 2) / sqrt(2 pi): exp(t), t clamped to [-87, 0], as 2^n e^r with
  ;; n = nearest(t log2 e), r = t - n ln2 (ln2 in two parts, the first exact in 9 bits) and e^r
  ;; by its Taylor polynomial of degree 6 (|r| <= ln2 / 2: relative error under 2e-7).
  (func (export "gelu_slope") (param $x i32) (param $y i32) (param $slope i32) (param $n i32)
    (local $end i32) (local $v v128) (local $z v128) (local $s v128) (local $p v128) (local $q v128)
    (local $phi v128) (local $t v128) (local $k v128) (local $r v128) (local $e v128)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
        (local.set $v (v128.load align=4 (local.get $x)))
        (local.set $z (f32x4.pmin (f32x4.pmax (f32x4.mul (local.get $v) (f32x4.splat (f32.const 0.70710677)))
          (f32x4.splat (f32.const -4))) (f32x4.splat (f32.const 4))))
        (local.set $s (f32x4.mul (local.get $z) (local.get $z)))
        (local.set $p (f32x4.splat (f32.const 2.1170721993257757e-06)))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $s)) (f32x4.splat (f32.const 0.0002836669737007469))))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $s)) (f32x4.splat (f32.const 0.0035882925149053335))))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $s)) (f32x4.splat (f32.const 0.05219276621937752))))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $s)) (f32x4.splat (f32.const 0.1858798861503601))))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $s)) (f32x4.splat (f32.const 1.1283791065216064))))
        (local.set $q (f32x4.splat (f32.const 3.873254172503948e-05)))
        (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $s)) (f32x4.splat (f32.const 0.0011251475661993027))))
        (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $s)) (f32x4.splat (f32.const 0.014605240896344185))))
        (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $s)) (f32x4.splat (f32.const 0.1122782826423645))))
        (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $s)) (f32x4.splat (f32.const 0.4980645775794983))))
        (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $s)) (f32x4.splat (f32.const 1.0))))
        ;; Phi = min(max(0.5 + 0.5 (z P / Q), 0), 1); y = x Phi
        (local.set $phi (f32x4.pmin (f32x4.pmax
          (f32x4.add (f32x4.splat (f32.const 0.5))
            (f32x4.mul (f32x4.splat (f32.const 0.5)) (f32x4.div (f32x4.mul (local.get $z) (local.get $p)) (local.get $q))))
          (f32x4.splat (f32.const 0))) (f32x4.splat (f32.const 1))))
        (v128.store align=4 (local.get $y) (f32x4.mul (local.get $v) (local.get $phi)))
        ;; t = max(-0.5 x x, -87); k = nearest(t log2 e); r = (t - k ln2_hi) - k ln2_lo
        (local.set $t (f32x4.pmax (f32x4.mul (f32x4.mul (local.get $v) (local.get $v)) (f32x4.splat (f32.const -0.5)))
          (f32x4.splat (f32.const -87))))
        (local.set $k (f32x4.nearest (f32x4.mul (local.get $t) (f32x4.splat (f32.const 1.4426950408889634)))))
        (local.set $r (f32x4.sub (f32x4.sub (local.get $t) (f32x4.mul (local.get $k) (f32x4.splat (f32.const 0.693359375))))
          (f32x4.mul (local.get $k) (f32x4.splat (f32.const -2.12194440e-4)))))
        (local.set $e (f32x4.splat (f32.const 0.001388888888888889)))
        (local.set $e (f32x4.add (f32x4.mul (local.get $e) (local.get $r)) (f32x4.splat (f32.const 0.008333333333333333))))
        (local.set $e (f32x4.add (f32x4.mul (local.get $e) (local.get $r)) (f32x4.splat (f32.const 0.041666666666666664))))
        (local.set $e (f32x4.add (f32x4.mul (local.get $e) (local.get $r)) (f32x4.splat (f32.const 0.16666666666666666))))
        (local.set $e (f32x4.add (f32x4.mul (local.get $e) (local.get $r)) (f32x4.splat (f32.const 0.5))))
        (local.set $e (f32x4.add (f32x4.mul (local.get $e) (local.get $r)) (f32x4.splat (f32.const 1.0))))
        (local.set $e (f32x4.add (f32x4.mul (local.get $e) (local.get $r)) (f32x4.splat (f32.const 1.0))))
        ;; e^t = e^r 2^k (2^k from its bits: k + 127 in the exponent field); slope = Phi + x (e^t c)
        (local.set $e (f32x4.mul (local.get $e)
          (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $k)) (i32x4.splat (i32.const 127))) (i32.const 23))))
        (v128.store align=4 (local.get $slope)
          (f32x4.add (local.get $phi)
            (f32x4.mul (local.get $v) (f32x4.mul (local.get $e) (f32x4.splat (f32.const 0.3989422804014327))))))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $y (i32.add (local.get $y) (i32.const 16)))
        (local.set $slope (i32.add (local.get $slope) (i32.const 16)))
        (br $next))))


  ;; y = x + b, b a row of h values added to each of `rows` rows (h a multiple of 4); with $r not
  ;; 0, y = (x + b) + r, r as x. In place when y is x.
  (func (export "add_bias")
    (param $x i32) (param $b i32) (param $r i32) (param $rows i32) (param $h i32) (param $y i32)
    (local $row i32) (local $j i32) (local $bytes i32) (local $v v128)
    (local.set $bytes (i32.shl (local.get $h) (i32.const 2)))
    (block $rows_done
      (loop $row_next
        (br_if $rows_done (i32.ge_u (local.get $row) (local.get $rows)))
        (local.set $j (i32.const 0))
        (block $done (loop $next
          (br_if $done (i32.ge_u (local.get $j) (local.get $bytes)))
          (local.set $v (f32x4.add (v128.load align=4 (i32.add (local.get $x) (local.get $j)))
            (v128.load align=4 (i32.add (local.get $b) (local.get $j)))))
          (if (local.get $r)
            (then (local.set $v (f32x4.add (local.get $v)
              (v128.load align=4 (i32.add (local.get $r) (local.get $j)))))))
          (v128.store align=4 (i32.add (local.get $y) (local.get $j)) (local.get $v))
          (local.set $j (i32.add (local.get $j) (i32.const 16)))
          (br $next)))
        (local.set $x (i32.add (local.get $x) (local.get $bytes)))
        (local.set $y (i32.add (local.get $y) (local.get $bytes)))
        (if (local.get $r) (then (local.set $r (i32.add (local.get $r) (local.get $bytes)))))
        (local.set $row (i32.add (local.get $row) (i32.const 1)))
        (br $row_next))))

  ;; The sum of the four lanes, in the order ((l0 + l1) + l2) + l3.
  (func $sum4 (param $v v128) (result f32)
    (f32.add (f32.add (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
      (f32x4.extract_lane 2 (local.get $v))) (f32x4.extract_lane 3 (local.get $v))))

  ;; LayerNorm of `rows` rows of `h` values: mean and variance over the row (lane-wise sums,
  ;; see $sum4), rstd = 1 / sqrt(var + eps), xhat = (x - mean) rstd, y = xhat gamma + beta.
  ;; Writes xhat and rstd (one float per row) when $xhat is not 0.
  (func (export "layer_norm")
    (param $x i32) (param $gamma i32) (param $beta i32) (param $rows i32) (param $h i32)
    (param $eps f32) (param $y i32) (param $xhat i32) (param $rstd i32)
    (local $row i32) (local $j i32) (local $bytes i32) (local $acc v128) (local $d v128)
    (local $mean f32) (local $rs f32) (local $m4 v128) (local $r4 v128) (local $xh v128)
    (local.set $bytes (i32.shl (local.get $h) (i32.const 2)))
    (block $rows_done
      (loop $row_next
        (br_if $rows_done (i32.ge_u (local.get $row) (local.get $rows)))
        ;; mean
        (local.set $acc (v128.const i32x4 0 0 0 0))
        (local.set $j (i32.const 0))
        (block $a (loop $an
          (br_if $a (i32.ge_u (local.get $j) (local.get $bytes)))
          (local.set $acc (f32x4.add (local.get $acc) (v128.load align=4 (i32.add (local.get $x) (local.get $j)))))
          (local.set $j (i32.add (local.get $j) (i32.const 16)))
          (br $an)))
        (local.set $mean (f32.div (call $sum4 (local.get $acc)) (f32.convert_i32_u (local.get $h))))
        (local.set $m4 (f32x4.splat (local.get $mean)))
        ;; variance
        (local.set $acc (v128.const i32x4 0 0 0 0))
        (local.set $j (i32.const 0))
        (block $b (loop $bn
          (br_if $b (i32.ge_u (local.get $j) (local.get $bytes)))
          (local.set $d (f32x4.sub (v128.load align=4 (i32.add (local.get $x) (local.get $j))) (local.get $m4)))
          (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $d) (local.get $d))))
          (local.set $j (i32.add (local.get $j) (i32.const 16)))
          (br $bn)))
        (local.set $rs (f32.div (f32.const 1)
          (f32.sqrt (f32.add (f32.div (call $sum4 (local.get $acc)) (f32.convert_i32_u (local.get $h))) (local.get $eps)))))
        (local.set $r4 (f32x4.splat (local.get $rs)))
        (if (local.get $xhat)
          (then (f32.store (i32.add (local.get $rstd) (i32.shl (local.get $row) (i32.const 2))) (local.get $rs))))
        ;; y, and xhat
        (local.set $j (i32.const 0))
        (block $c (loop $cn
          (br_if $c (i32.ge_u (local.get $j) (local.get $bytes)))
          (local.set $xh (f32x4.mul (f32x4.sub (v128.load align=4 (i32.add (local.get $x) (local.get $j))) (local.get $m4)) (local.get $r4)))
          (v128.store align=4 (i32.add (local.get $y) (local.get $j))
            (f32x4.add (f32x4.mul (local.get $xh) (v128.load align=4 (i32.add (local.get $gamma) (local.get $j))))
              (v128.load align=4 (i32.add (local.get $beta) (local.get $j)))))
          (if (local.get $xhat)
            (then (v128.store align=4 (i32.add (local.get $xhat) (local.get $j)) (local.get $xh))))
          (local.set $j (i32.add (local.get $j) (i32.const 16)))
          (br $cn)))
        (local.set $x (i32.add (local.get $x) (local.get $bytes)))
        (local.set $y (i32.add (local.get $y) (local.get $bytes)))
        (if (local.get $xhat)
          (then (local.set $xhat (i32.add (local.get $xhat) (local.get $bytes)))))
        (local.set $row (i32.add (local.get $row) (i32.const 1)))
        (br $row_next))))
)
