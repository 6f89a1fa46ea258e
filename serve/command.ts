/**
 * The `serve` command: loads a model once and answers HTTP requests with its entities (see
 * server.ts, docs/serve.md) until Ctrl-C or SIGTERM, which stop it accepting, let the requests
 * in flight finish, and exit 0.
 *
 *     deno task serve pipelines/ner.yaml
 *     deno task serve out/ner/train/model --port 0
 *     deno task serve pipelines/ner.yaml --run last --host 0.0.0.0 --token "$TOKEN"
 *
 * @module
 */

import { UserError } from "../runner/errors.ts";
import { type FlagSpecs, fraction, oneOf, parseArgs } from "../runner/lib/args.ts";
import { relative } from "../runner/paths.ts";
import { AGGREGATION_STRATEGIES, type AggregationStrategy } from "../ner/predict/entities.ts";
import { BOUNDARY_MODES, type BoundaryMode } from "../ner/boundaries.ts";
import { BACKEND_NAMES, type BackendName } from "../ner/bert/backend.ts";
import { workerThreadsEnded } from "../runner/lib/workers.ts";
import { isLoopback, SERVE_TOKEN_ENV_VAR, tokenProblem } from "./auth.ts";

/** The port `serve` listens on unless given `--port`. */
export const DEFAULT_PORT = 8000;

/** Backends whose work is done by the CPU cores, which workers share out. */
const CPU_BACKENDS = ["wasm", "cpu"];

/** The most `--workers`. */
export const MAX_WORKERS = 64;

/**
 * A model whose encoder costs more multiply-adds per token than this gets one worker with every
 * core for OpenBLAS; a lighter one a worker per core. Between the two models measured: the sample's
 * 0.4 M (2 workers serve it 1.5 times as fast at 32 clients on 2 cores) and BERT-base's 85 M (1
 * worker with 2 OpenBLAS threads serves one client 1.2 to 1.6 times as fast, 32 about as fast).
 */
export const HEAVY_MODEL_MACS = 10_000_000;

/**
 * Workers on the CPU unless `--workers` says: one per core (at most 4; each holds a copy of the
 * model) for a light model, one for a heavy one (see {@link HEAVY_MODEL_MACS}). On a GPU, one.
 *
 * @param config The model's layers, hidden and intermediate sizes (its config.json).
 * @param cores The cores to use.
 */
export function defaultWorkers(
  config: { num_hidden_layers: number; hidden_size: number; intermediate_size: number },
  cores: number,
): number {
  const { num_hidden_layers: layers, hidden_size: h, intermediate_size: i } = config;
  const macs = layers * (4 * h * h + 2 * h * i);
  return macs > HEAVY_MODEL_MACS ? 1 : Math.max(1, Math.min(4, cores));
}

const USAGE = `usage:
  serve <pipeline.yaml | model dir> [--run <run id prefix>|last] [--port ${DEFAULT_PORT}]
        [--host 127.0.0.1] [--token <secret>] [--workers N]
        [--backend auto|wasm|cpu|webgpu|tensorflow]
        [--aggregation exact|simple|first|average|max] [--min-score <0 to 1>]
        [--boundaries words+learned-tails|pieces]
        [--stage <id>] [--set k=v]... [--allow-outside <path>]...`;

const FLAGS = {
  help: { type: "boolean" },
  run: { type: "string" },
  port: { type: "string" },
  host: { type: "string" },
  token: { type: "string" },
  workers: { type: "string" },
  backend: { type: "string" },
  aggregation: { type: "string" },
  "min-score": { type: "string" },
  boundaries: { type: "string" },
  stage: { type: "string" },
  set: { type: "strings" },
  "allow-outside": { type: "strings" },
} satisfies FlagSpecs;

/** What `serve` was asked for, checked. */
interface ServeFlags {
  target: string;
  run?: string;
  port: number;
  host: string;
  token?: string;
  /** Left out: {@link defaultWorkers}. */
  workers?: number;
  backend: BackendName;
  aggregation?: AggregationStrategy;
  minScore?: number;
  boundaries?: BoundaryMode;
  stage?: string;
  sets: string[];
  allowOutside: string[];
}

function parse(args: string[]): ServeFlags | "help" {
  const { values: v, positionals } = parseArgs(args, FLAGS, { usage: USAGE });
  if (v.help) return "help";
  if (positionals.length !== 1) {
    throw new UserError(
      `${positionals.length ? "Give one" : "Missing"} model directory or pipeline file\n${USAGE}`,
    );
  }
  const port = v.port === undefined ? DEFAULT_PORT : Number(v.port);
  if (!/^\d+$/.test(v.port ?? "0") || !(port >= 0 && port <= 65535)) {
    throw new UserError(`Invalid --port "${v.port}": expected a number from 0 to 65535 (0: any)`);
  }
  const workers = Number(v.workers ?? 1);
  if (!/^\d+$/.test(v.workers ?? "1") || !(workers >= 1 && workers <= MAX_WORKERS)) {
    throw new UserError(
      `Invalid --workers "${v.workers}": expected a number from 1 to ${MAX_WORKERS} (each holds ` +
        "a copy of the model)",
    );
  }
  const flags: ServeFlags = {
    target: positionals[0]!,
    port,
    ...(v.workers !== undefined ? { workers } : {}),
    host: v.host ?? "127.0.0.1",
    backend: oneOf("backend", v.backend ?? "auto", BACKEND_NAMES),
    sets: v.set ?? [],
    allowOutside: v["allow-outside"] ?? [],
  };
  if (v.run !== undefined) flags.run = v.run;
  if (v.stage !== undefined) flags.stage = v.stage;
  if (v.aggregation !== undefined) {
    flags.aggregation = oneOf("aggregation", v.aggregation, AGGREGATION_STRATEGIES);
  }
  if (v.boundaries !== undefined) {
    flags.boundaries = oneOf("boundaries", v.boundaries, BOUNDARY_MODES);
  }
  if (v["min-score"] !== undefined) flags.minScore = fraction("min-score", v["min-score"]);
  if (flags.run !== undefined && flags.sets.length) {
    throw new UserError(
      `--run "${flags.run}" serves the model of that run, trained with its own parameters: ` +
        "leave out --set",
    );
  }
  // The token: --token, else NERPIPE_SERVE_TOKEN (checked when the command started).
  const token = v.token ?? (Deno.env.get(SERVE_TOKEN_ENV_VAR.name) || undefined);
  if (v.token !== undefined) {
    const problem = tokenProblem(v.token);
    if (problem) {
      throw new UserError(
        `The --token ${problem}: use ${SERVE_TOKEN_ENV_VAR.allowed.split(" (")[0]}, ` +
          `such as the output of "openssl rand -hex 32"`,
      );
    }
  }
  if (token !== undefined) flags.token = token;
  if (!isLoopback(flags.host) && token === undefined) {
    throw new UserError(
      `Listening on "${flags.host}" lets other machines in: give a token with --token or ` +
        `${SERVE_TOKEN_ENV_VAR.name} (every request must then carry "Authorization: Bearer ` +
        `<token>"), or listen on 127.0.0.1`,
    );
  }
  return flags;
}

/** Starts listening, or says why it cannot as a user error. */
async function listen(
  start: () => Promise<import("./server.ts").RunningServer>,
  host: string,
  port: number,
) {
  try {
    return await start();
  } catch (error) {
    const where = `port ${port} of "${host}"`;
    if (error instanceof Deno.errors.AddrInUse) {
      throw new UserError(
        `The ${where} is in use: choose another with --port, or --port 0 for a free one`,
      );
    }
    if (error instanceof Deno.errors.AddrNotAvailable) {
      throw new UserError(`"${host}" is not an address of this machine: check --host`);
    }
    if (error instanceof Deno.errors.PermissionDenied) {
      throw new UserError(
        `Not allowed to listen on ${where}: ports under 1024 need privileges: choose --port ` +
          `1024 or above`,
      );
    }
    if (/lookup|resolve|name or service/i.test((error as Error)?.message ?? "")) {
      throw new UserError(`Cannot resolve --host "${host}": give an address or a known name`);
    }
    throw error;
  }
}

/** What a program may change in {@link serveCommand} that no flag reaches. */
export interface ServeInternals {
  /**
   * The pool's worker module instead of the model's predictor (bench/_standin_worker.ts: a
   * stand-in whose every batch takes a set time, to measure the server without the model).
   */
  workerModule?: URL;
}

/**
 * Runs `serve`: until a signal stops it.
 *
 * @param args Arguments after `serve`.
 * @param internal What no flag reaches (a benchmark's stand-in for the model).
 * @returns The exit code: 0 after Ctrl-C or SIGTERM, once the requests in flight are answered.
 * @throws {UserError} On a bad flag, a missing model, a port in use, or a non-loopback address
 *   without a token.
 */
export async function serveCommand(
  args: string[],
  internal: ServeInternals = {},
): Promise<number> {
  const flags = parse(args);
  if (flags === "help") {
    console.log(USAGE);
    return 0;
  }
  const findOptions = {
    allowOutside: flags.allowOutside,
    ...(flags.stage ? { stage: flags.stage } : {}),
  };
  // A pipeline's model as predict finds it: of these parameters, or of a recorded run.
  const found = await (await import("../predict_model.ts")).findModel(flags.target, {
    ...findOptions,
    sets: flags.sets,
    ...(flags.run !== undefined ? { run: flags.run } : {}),
  });
  if (found.note) console.error(found.note);
  const cores = navigator.hardwareConcurrency || 1;
  let workers: number;
  if (flags.workers !== undefined) workers = flags.workers;
  else {
    let config;
    try {
      config = JSON.parse(await Deno.readTextFile(`${found.dir}/config.json`));
    } catch {
      config = null; // loading the model says what is wrong with it
    }
    workers = config ? defaultWorkers(config, cores) : 1;
  }
  // The cores are shared by the workers (each computes its own batches) and, within each, by
  // OpenBLAS threads, unless NERPIPE_BLAS_THREADS says otherwise. Set before the library loads:
  // its thread count is fixed then.
  if (!Deno.env.get("NERPIPE_BLAS_THREADS")) {
    Deno.env.set("NERPIPE_BLAS_THREADS", String(Math.max(1, Math.floor(cores / workers))));
  }
  const { loadPredictorPool, MAX_RESTARTS } = await import("../ner/predict/pool.ts");
  const predictor = await loadPredictorPool(found.dir, {
    backend: flags.backend,
    batchSize: 32,
    ...(flags.aggregation ? { aggregation: flags.aggregation } : {}),
    ...(flags.minScore !== undefined ? { minScore: flags.minScore } : {}),
    ...(flags.boundaries ? { boundaries: flags.boundaries } : {}),
  }, (backend) => {
    // A GPU computes a batch's texts at once: one worker, one copy of the model on it.
    if (flags.workers === undefined && !CPU_BACKENDS.includes(backend)) workers = 1;
    return workers;
  }, {
    ...(internal.workerModule ? { workerModule: internal.workerModule } : {}),
    onRestart: (error, restarts) =>
      console.error(
        `error: ${error.message}; its calls failed, and a fresh worker is loading the model ` +
          `(${restarts} replaced so far; past ${MAX_RESTARTS} in a minute the server stops ` +
          `answering: see /health)`,
      ),
  });
  try {
    const { startServer } = await import("./server.ts");
    const shown = relative(Deno.cwd(), found.dir) || found.dir;
    const source: Record<string, string> | null = found.stage
      ? {
        file: flags.target,
        stage: found.stage.id,
        key: found.stage.key,
        ...(found.run ? { run: found.run } : {}),
      }
      : null;
    const server = await listen(
      () =>
        startServer((texts, decode) => predictor.predict(texts, decode), {
          model: source ? `${flags.target} (stage ${source.stage})` : shown,
          backend: predictor.backend,
          tags: predictor.labels,
          config: JSON.parse(Deno.readTextFileSync(`${found.dir}/config.json`)),
          decoding: {
            aggregation: predictor.aggregation,
            min_score: predictor.minScore,
            boundaries: predictor.boundaries.mode,
          },
          source,
          stats: () => ({ tensors: predictor.tensors() }),
          workers: () => predictor.state(),
        }, {
          host: flags.host,
          port: flags.port,
          // A batch computing in each worker, and one waiting for each.
          limits: { inFlight: 2 * workers },
          ...(flags.token !== undefined ? { token: flags.token } : {}),
        }),
      flags.host,
      flags.port,
    );
    const from = found.stage
      ? `${flags.target}, stage ${found.stage.id}${
        source?.run ? `, run ${source.run.slice(0, 8)}` : ""
      }, key ${found.stage.key.slice(0, 12)}…: ${shown}`
      : shown;
    console.log(`model ${from}`);
    console.log(`backend ${predictor.backend.backend} (${predictor.backend.reason})`);
    const threads = Deno.env.get("NERPIPE_BLAS_THREADS");
    console.log(
      `workers ${workers}${flags.workers === undefined ? " (--workers to choose)" : ""}, ` +
        `each with a copy of the model${
          predictor.backend.reason.includes("OpenBLAS")
            ? ` and ${threads} OpenBLAS thread${threads === "1" ? "" : "s"}`
            : ""
        }`,
    );
    console.log(
      `listening on ${server.url}${flags.token !== undefined ? " (token required)" : ""}`,
    );
    await untilSignal(server);
  } finally {
    predictor.dispose();
    // The process exits next: the workers' threads must have ended first.
    await workerThreadsEnded();
  }
  return 0;
}

/** Waits for Ctrl-C or SIGTERM, then stops the server gracefully; a second one exits at once. */
async function untilSignal(server: { shutdown(): Promise<void>; finished: Promise<void> }) {
  const signals: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT", "SIGBREAK"]
    : ["SIGINT", "SIGTERM"];
  let stopping = false;
  const stopped = new Promise<void>((resolve) => {
    const onSignal = () => {
      if (stopping) {
        console.error("stopped at once: the requests in flight were not answered");
        Deno.exit(1);
      }
      stopping = true;
      console.error("stopping: no new requests; answering those in flight (again to stop now)");
      server.shutdown().then(() => {
        for (const s of signals) Deno.removeSignalListener(s, onSignal);
        resolve();
      });
    };
    for (const s of signals) Deno.addSignalListener(s, onSignal);
  });
  await Promise.race([stopped, server.finished]);
  await server.finished;
  console.error("stopped");
}
