/**
 * AdamW with decoupled weight decay (as `torch.optim.AdamW`) and global-norm
 * gradient clipping (as `torch.nn.utils.clip_grad_norm_`).
 *
 * Defaults follow Hugging Face `TrainingArguments`: betas 0.9 / 0.999,
 * epsilon 1e-8. Weight decay skips biases and LayerNorm weights (decided by
 * parameter name, see {@link usesWeightDecay}).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { type HostTensor, usesWeightDecay } from "./init.ts";
import { ADAMW_KERNEL, SUM_SQUARES_KERNEL } from "./_kernel_names.ts";

/** Hyper-parameters of {@link AdamW}. */
export interface AdamWOptions {
  weightDecay: number;
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.999. */
  beta2?: number;
  /** Default 1e-8. */
  epsilon?: number;
}

/**
 * Global L2 norm of a set of gradients, as a scalar tensor.
 *
 * @param grads The gradients.
 * @returns `sqrt(sum of squares)` over all of them.
 */
export function globalNorm(grads: readonly tf.Tensor[]): tf.Scalar {
  return tf.tidy(() => {
    if (grads.length === 0) return tf.scalar(0);
    if (tf.getKernel(SUM_SQUARES_KERNEL, tf.getBackend()) !== undefined) {
      const named = Object.fromEntries(grads.map((g, i) => [String(i), g]));
      return tf.sqrt(tf.engine().runKernel(SUM_SQUARES_KERNEL, named) as tf.Tensor) as tf.Scalar;
    }
    let sums: tf.Tensor[] = grads.map((g) => tf.sum(tf.square(g)));
    // A tree of pairwise adds: tfjs-webgpu 4.22's AddN returns wrong sums here.
    while (sums.length > 1) {
      const next: tf.Tensor[] = [];
      for (let i = 0; i < sums.length; i += 2) {
        next.push(i + 1 < sums.length ? tf.add(sums[i]!, sums[i + 1]!) : sums[i]!);
      }
      sums = next;
    }
    return tf.sqrt(sums[0]!) as tf.Scalar;
  });
}

/**
 * The factor `clip_grad_norm_` multiplies gradients by:
 * `min(1, maxNorm / (norm + 1e-6))`.
 *
 * @param norm Global norm before clipping.
 * @param maxNorm Largest allowed norm; `<= 0` or non-finite disables clipping.
 * @returns A scalar tensor.
 */
export function clipScale(norm: tf.Scalar, maxNorm: number): tf.Scalar {
  return tf.tidy(() => {
    if (!(maxNorm > 0) || !Number.isFinite(maxNorm)) return tf.onesLike(norm);
    return tf.minimum(1, tf.div(maxNorm, tf.add(norm, 1e-6))) as tf.Scalar;
  });
}

/**
 * Clips gradients to a global norm.
 *
 * @param grads Gradients (not modified).
 * @param maxNorm Largest allowed global norm.
 * @returns Clipped gradients and the norm before clipping (caller disposes all).
 */
export function clipByGlobalNorm(
  grads: readonly tf.Tensor[],
  maxNorm: number,
): { grads: tf.Tensor[]; norm: tf.Scalar } {
  const norm = globalNorm(grads);
  const clipped = tf.tidy(() => {
    const s = clipScale(norm, maxNorm);
    return grads.map((g) => tf.mul(g, s));
  });
  return { grads: clipped, norm };
}

/** What {@link AdamW.exportState} returns: host copies of the moments, by parameter name. */
export interface AdamWState {
  /** Updates applied so far (the bias corrections depend on it). */
  step: number;
  m: Map<string, HostTensor>;
  v: Map<string, HostTensor>;
}

interface Slot {
  name: string;
  param: tf.Variable;
  m: tf.Variable;
  v: tf.Variable;
  decay: boolean;
}

/**
 * AdamW over a named set of variables.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { AdamW } from "./adamw.ts";
 * await tf.setBackend("cpu");
 * const w = tf.variable(tf.ones([2]));
 * const opt = new AdamW(new Map([["w", w]]), { weightDecay: 0 });
 * tf.tidy(() => opt.applyGradients(new Map([["w", tf.ones([2])]]), 0.1));
 * // The first step moves each weight by the learning rate against its gradient's sign
 * // (m̂ / √v̂ = 1): 1 - 0.1, in float32.
 * assert.deepEqual(Array.from(await w.data(), (x) => Math.round(x * 1e6) / 1e6), [0.9, 0.9]);
 * opt.dispose();
 * ```
 */
export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly weightDecay: number;
  #slots: Slot[] = [];
  #step = 0;

  /**
   * @param params Variables by Hugging Face name (the name decides weight decay).
   * @param opts Hyper-parameters.
   */
  constructor(params: Map<string, tf.Variable>, opts: AdamWOptions) {
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.epsilon = opts.epsilon ?? 1e-8;
    this.weightDecay = opts.weightDecay;
    for (const [name, param] of params) {
      this.#slots.push({
        name,
        param,
        // Inside tidy: the initial tensor is disposed, the variable kept.
        m: tf.tidy(() => tf.variable(tf.zerosLike(param), false)),
        v: tf.tidy(() => tf.variable(tf.zerosLike(param), false)),
        decay: usesWeightDecay(name),
      });
    }
  }

  /** Number of updates applied so far. */
  get iterations(): number {
    return this.#step;
  }

  /**
   * Applies one update. Call inside `tf.tidy`.
   *
   * @param grads Gradients by parameter name; a parameter without one is skipped
   *   (as PyTorch skips parameters whose `.grad` is None).
   * @param lr Learning rate of this step.
   * @param gradScale Optional factor applied to every gradient (clipping).
   */
  applyGradients(grads: Map<string, tf.Tensor>, lr: number, gradScale?: tf.Scalar): void {
    this.#step++;
    const t = this.#step;
    const b1 = this.beta1;
    const b2 = this.beta2;
    const bc1 = 1 - Math.pow(b1, t);
    const bc2 = 1 - Math.pow(b2, t);
    const stepSize = lr / bc1;
    const sqrtBc2 = Math.sqrt(bc2);
    const fused = tf.getKernel(ADAMW_KERNEL, tf.getBackend()) !== undefined;
    const scaleT = fused ? (gradScale ?? tf.scalar(1)) : undefined;
    for (const s of this.#slots) {
      const g0 = grads.get(s.name);
      if (!g0) continue;
      const decayFactor = s.decay && this.weightDecay > 0 ? 1 - lr * this.weightDecay : 1;
      if (fused) {
        const [p, m, v] = tf.engine().runKernel(ADAMW_KERNEL, {
          param: s.param,
          grad: g0,
          m: s.m,
          v: s.v,
          scale: scaleT!,
        }, {
          beta1: b1,
          beta2: b2,
          epsilon: this.epsilon,
          decayFactor,
          stepSize,
          sqrtBc2,
        } as unknown as tf.NamedAttrMap) as tf.Tensor[];
        s.param.assign(p!);
        s.m.assign(m!);
        s.v.assign(v!);
        p!.dispose();
        m!.dispose();
        v!.dispose();
        continue;
      }
      tf.tidy(() => {
        const g = gradScale ? tf.mul(g0, gradScale) : g0;
        const m = tf.add(tf.mul(s.m, b1), tf.mul(g, 1 - b1));
        const v = tf.add(tf.mul(s.v, b2), tf.mul(tf.square(g), 1 - b2));
        const denom = tf.add(tf.div(tf.sqrt(v), sqrtBc2), this.epsilon);
        const update = tf.mul(tf.div(m, denom), stepSize);
        const decayed = decayFactor !== 1 ? tf.mul(s.param, decayFactor) : s.param;
        s.param.assign(tf.sub(decayed, update));
        s.m.assign(m);
        s.v.assign(v);
      });
    }
  }

  /**
   * The optimiser's state, for a checkpoint: the update count and both moments of every
   * parameter, in the parameters' own (device) layout, copied to the host.
   *
   * @returns The state; {@link importState} restores it exactly.
   */
  async exportState(): Promise<AdamWState> {
    const m = new Map<string, HostTensor>();
    const v = new Map<string, HostTensor>();
    for (const s of this.#slots) {
      m.set(s.name, {
        shape: s.m.shape.slice(),
        data: ((await s.m.data()) as Float32Array).slice(),
      });
      v.set(s.name, {
        shape: s.v.shape.slice(),
        data: ((await s.v.data()) as Float32Array).slice(),
      });
    }
    return { step: this.#step, m, v };
  }

  /**
   * Restores a state from {@link exportState} (of an optimiser over the same parameters).
   *
   * @param state The state.
   * @throws {RangeError} When a parameter's moment is missing or of another shape.
   */
  importState(state: AdamWState): void {
    if (!Number.isInteger(state.step) || state.step < 0) {
      throw new RangeError(`Optimiser step must be a non-negative integer: got ${state.step}`);
    }
    for (const s of this.#slots) {
      for (const [which, slot] of [["m", s.m], ["v", s.v]] as const) {
        const t = state[which].get(s.name);
        const fits = t !== undefined && t.shape.length === slot.shape.length &&
          t.shape.every((d, i) => d === slot.shape[i]) && t.data.length === slot.size;
        if (!fits) {
          throw new RangeError(
            t
              ? `Optimiser ${which} of "${s.name}" has shape [${t.shape}]: expected [${slot.shape}]`
              : `Optimiser state lacks ${which} of "${s.name}"`,
          );
        }
      }
    }
    for (const s of this.#slots) {
      tf.tidy(() => {
        s.m.assign(tf.tensor(state.m.get(s.name)!.data, s.m.shape));
        s.v.assign(tf.tensor(state.v.get(s.name)!.data, s.v.shape));
      });
    }
    this.#step = state.step;
  }

  /** Frees the moment buffers (not the parameters). */
  dispose(): void {
    for (const s of this.#slots) {
      s.m.dispose();
      s.v.dispose();
    }
    this.#slots = [];
  }
}
