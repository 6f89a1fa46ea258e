/**
 * `tf.tidy` for a function that awaits: the tensors it makes are disposed when it settles, but
 * for those in its result.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

/**
 * Runs `fn` in a tensor scope that stays open across its awaits (tfjs's own `tidy` refuses a
 * promise). Nothing else may make tensors on this thread while it waits: they would be counted
 * in this scope and disposed with it. The training step is the only caller, between two steps.
 *
 * @param fn Makes tensors, reads some back, makes more.
 * @returns What `fn` returned; its tensors stay alive (the caller disposes them).
 * @throws What `fn` throws, after disposing every tensor it made.
 */
export async function tidyAsync<T extends tf.TensorContainer>(fn: () => Promise<T>): Promise<T> {
  const engine = tf.engine();
  engine.startScope("tidyAsync");
  let result: T;
  try {
    result = await fn();
  } catch (error) {
    engine.endScope();
    throw error;
  }
  engine.endScope(result);
  return result;
}
