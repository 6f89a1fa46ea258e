/**
 * The element loop of a fused AdamW update, shared by JavaScript kernels.
 *
 * @module
 */

/** Attributes of the fused AdamW kernel. */
export interface AdamWAttrs {
  beta1: number;
  beta2: number;
  epsilon: number;
  /** Multiplier of the parameter before the update: `1 - lr * weightDecay` (or 1). */
  decayFactor: number;
  /** `lr / (1 - beta1^t)`. */
  stepSize: number;
  /** `sqrt(1 - beta2^t)`. */
  sqrtBc2: number;
}

/** The AdamW update of `torch.optim.AdamW`, element by element. */
export function adamwLoop(
  P: Float32Array,
  G: Float32Array,
  M: Float32Array,
  V: Float32Array,
  gradScale: number,
  a: AdamWAttrs,
  outP: Float32Array,
  outM: Float32Array,
  outV: Float32Array,
): void {
  const { beta1, beta2, epsilon, decayFactor, stepSize } = a;
  const c1 = 1 - beta1;
  const c2 = 1 - beta2;
  const invSqrtBc2 = 1 / a.sqrtBc2;
  const n = P.length;
  for (let i = 0; i < n; i++) {
    const g = G[i]! * gradScale;
    const m = beta1 * M[i]! + c1 * g;
    const v = beta2 * V[i]! + c2 * g * g;
    outM[i] = m;
    outV[i] = v;
    outP[i] = P[i]! * decayFactor - stepSize * m / (Math.sqrt(v) * invSqrtBc2 + epsilon);
  }
}
