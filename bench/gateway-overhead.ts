/**
 * bench/gateway-overhead: what Tierline's API adds on top of the model.
 *
 * Three servers run in child processes: the deterministic test model behind a bare
 * OpenAI-compatible endpoint ("direct"), local mode in front of it ("gateway": the same API app as
 * in Lambda, the real authorizer code, the usage-plan emulation, metering), and dynalite standing
 * in for DynamoDB. The same streamed requests go to both, at concurrency 1, 16 and 64, with the
 * model paced like a real one (100 ms to first token, 100 tokens/s). Printed: p50/p99 time to first
 * token and total time, requests/s, the gateway/direct ratio, and the gateway process's own CPU
 * time per request (so the overhead cannot hide behind the model's pace). Each level also runs
 * through the Responses API ("response": streamed, stored as OpenAI's default), and prints its
 * gateway CPU and TTFT against chat's of the same run.
 *
 * It prints the machine (cores, CPU model, load average before and after) with its figures, and
 * writes them as JSON (default `bench/results/gateway-overhead-<time>.json`, git-ignored;
 * `BENCH_OUT=file` to choose) so runs on different days or machines can be compared.
 *
 *   npx tsx bench/gateway-overhead.ts            (about 1.5 minutes)
 *   BENCH_QUICK=1 npx tsx bench/gateway-overhead.ts
 *   BENCH_CPU_PROF=.local/prof npx tsx bench/gateway-overhead.ts   (and a CPU profile of the gateway per level)
 *   BENCH_LEVELS=16 BENCH_PER_WORKER=12 npx tsx bench/gateway-overhead.ts   (one level, 12 requests per client)
 *   BENCH_ROUNDS=3 BENCH_LEVELS=64 npx tsx bench/gateway-overhead.ts   (chat then Responses, 3 times over)
 */
import { type ChildProcess, execFileSync, fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

type Role = 'model' | 'dynamo' | 'gateway';
interface Ready {
  type: 'ready';
  baseUrl: string;
  /** One key per client: each concurrent client is a customer of its own. */
  apiKeys?: string[];
}
interface Cpu {
  type: 'cpu';
  userMicros: number;
  systemMicros: number;
  peakRssMiB: number;
  /** Event-loop delay over the period since the previous reading. */
  loopDelay: { p50Ms: number; p99Ms: number };
}

const TTFT_MS = 100;
const TOKENS_PER_SECOND = 100;
const REPLY_TOKENS = 50;
/** `BENCH_LEVELS=16` runs one level only (e.g. for a CPU profile of the steady state). */
const LEVELS = (process.env.BENCH_LEVELS ?? '1,16,64').split(',').map(Number);
const quick = process.env.BENCH_QUICK === '1';
/**
 * `BENCH_ROUNDS=3`: each level's chat and Responses runs alternate 3 times, and the Responses/chat
 * ratios are printed per round and as their median. On a shared machine the load moves within
 * a minute (measured: a chat run at load 5.9 then a Responses run at 9.7); a ratio from one pair
 * of runs carries that drift, the median of alternating pairs much less of it.
 */
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? '1'));

function startChild(
  role: Role,
  env: Record<string, string>,
): Promise<{ child: ChildProcess; ready: Ready }> {
  const child = fork(path.join(__dirname, 'servers.ts'), [role], {
    // BENCH_GATEWAY_NODE_FLAGS: more Node flags for the gateway process (e.g. `--trace-gc`).
    execArgv: [
      '--import',
      'tsx',
      ...(role === 'gateway'
        ? (process.env.BENCH_GATEWAY_NODE_FLAGS ?? '').split(' ').filter(Boolean)
        : []),
    ],
    env: { ...process.env, ...env, NODE_NO_WARNINGS: '1' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${role} server exited with ${code}`)));
    child.once('message', (message) => resolve({ child, ready: message as Ready }));
  });
}

/**
 * BENCH_CPU_PROF=dir: a V8 CPU profile of the gateway during each gateway level
 * (`gateway-c<level>.cpuprofile`; read it with `npx tsx bench/profile-summary.ts
 * dir/gateway-c16.cpuprofile`).
 */
const profileDir = process.env.BENCH_CPU_PROF;

function profiling(
  child: ChildProcess,
  message: { profile: 'start' | 'stop'; file?: string },
): Promise<void> {
  if (!profileDir) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('message', () => resolve());
    child.send(message);
  });
}

function cpuOf(child: ChildProcess): Promise<Cpu> {
  return new Promise((resolve) => {
    child.once('message', (message) => resolve(message as Cpu));
    child.send('cpu');
  });
}

interface Sample {
  ttftMs: number;
  totalMs: number;
}

/** Which API a request calls: chat completions, or the Responses API (stored, OpenAI's default). */
type Api = 'chat' | 'responses';

const REQUESTS: Record<
  Api,
  { path: string; body: (prompt: string) => unknown; firstToken: string; end: string }
> = {
  chat: {
    path: '/chat/completions',
    body: (prompt) => ({
      model: 'qwen3-8b',
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: prompt }],
    }),
    firstToken: '"content":"',
    end: 'data: [DONE]',
  },
  responses: {
    path: '/responses',
    body: (prompt) => ({ model: 'qwen3-8b', stream: true, input: prompt }),
    firstToken: 'event: response.output_text.delta',
    end: 'event: response.completed',
  },
};

/** One streamed request; time to the first content token and to the end of the stream. */
async function streamOnce(
  baseUrl: string,
  apiKey: string | undefined,
  prompt: string,
  api: Api = 'chat',
): Promise<Sample> {
  const started = performance.now();
  const request = REQUESTS[api];
  const response = await fetch(`${baseUrl}${request.path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
    },
    body: JSON.stringify(request.body(prompt)),
  });
  if (!response.ok || !response.body)
    throw new Error(`HTTP ${response.status}: ${await response.text()}`);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let ttftMs = Number.NaN;
  let text = '';
  while (true) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    if (Number.isNaN(ttftMs) && text.includes(request.firstToken))
      ttftMs = performance.now() - started;
  }
  if (!text.includes(request.end)) throw new Error(`stream ended without ${request.end}`);
  return { ttftMs, totalMs: performance.now() - started };
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

interface LevelResult {
  concurrency: number;
  requests: number;
  ttftP50: number;
  ttftP99: number;
  totalP50: number;
  totalP99: number;
  requestsPerSecond: number;
}

/** Requests per client: 20 one at a time, 192 at concurrency 16, 256 at 64 (enough for a stable p50). */
const DEFAULT_PER_CLIENT: Record<number, number> = { 1: 20, 16: 12, 64: 4 };

async function runLevel(
  baseUrl: string,
  apiKeys: string[] | undefined,
  concurrency: number,
  requestsPerClient?: number,
  api: Api = 'chat',
): Promise<LevelResult> {
  const perWorker =
    requestsPerClient ??
    (quick ? 2 : Number(process.env.BENCH_PER_WORKER ?? DEFAULT_PER_CLIENT[concurrency] ?? 4));
  const samples: Sample[] = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      for (let i = 0; i < perWorker; i += 1) {
        const apiKey = apiKeys?.[worker % apiKeys.length];
        samples.push(
          await streamOnce(
            baseUrl,
            apiKey,
            `worker ${worker} request ${i}: tell me about tiers`,
            api,
          ),
        );
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const ttft = samples.map((s) => s.ttftMs);
  const total = samples.map((s) => s.totalMs);
  return {
    concurrency,
    requests: samples.length,
    ttftP50: percentile(ttft, 50),
    ttftP99: percentile(ttft, 99),
    totalP50: percentile(total, 50),
    totalP99: percentile(total, 99),
    requestsPerSecond: samples.length / seconds,
  };
}

const ms = (value: number) => `${value.toFixed(1)} ms`.padStart(10);

/** What the figures were measured on: a ratio from a loaded 2-core machine is not one from an idle 16-core one. */
function machine() {
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    // not a git checkout
  }
  return {
    cores: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 1024 ** 3),
    node: process.version,
    commit,
    loadAverageBefore: os.loadavg(),
  };
}

interface LevelReport {
  concurrency: number;
  direct: LevelResult;
  gateway: LevelResult;
  gatewayCpuMsPerRequest: number;
  dynaliteCpuMsPerRequest: number;
  gatewayLoopDelay: { p50Ms: number; p99Ms: number };
  dynaliteLoopDelay: { p50Ms: number; p99Ms: number };
  ttftP50Ratio: number;
  /** The same level through the Responses API (streamed, stored), in the same run. */
  responses: {
    gateway: LevelResult;
    gatewayCpuMsPerRequest: number;
    dynaliteCpuMsPerRequest: number;
    ttftP50Ratio: number;
    /** Its gateway CPU per request and TTFT p50 over chat's. */
    cpuVsChat: number;
    ttftVsChat: number;
    /** With BENCH_ROUNDS > 1: each alternating pair's ratios (the first is the pair above). */
    rounds?: { cpuVsChat: number; ttftVsChat: number; loadAverage: number }[];
  };
}

/** One level through the gateway, with the CPU the gateway and dynalite spent on it per request. */
async function measureGateway(
  gateway: { child: ChildProcess; ready: Ready },
  dynamo: { child: ChildProcess },
  concurrency: number,
  api: Api,
) {
  const before = await cpuOf(gateway.child);
  const dynamoBefore = await cpuOf(dynamo.child);
  await profiling(gateway.child, { profile: 'start' });
  const result = await runLevel(
    gateway.ready.baseUrl,
    gateway.ready.apiKeys,
    concurrency,
    undefined,
    api,
  );
  await profiling(gateway.child, {
    profile: 'stop',
    file: profileDir
      ? path.resolve(profileDir, `gateway-${api}-c${concurrency}.cpuprofile`)
      : undefined,
  });
  const after = await cpuOf(gateway.child);
  const dynamoAfter = await cpuOf(dynamo.child);
  const perRequest = (a: Cpu, b: Cpu) =>
    (b.userMicros - a.userMicros + b.systemMicros - a.systemMicros) / 1000 / result.requests;
  return {
    result,
    cpuMsPerRequest: perRequest(before, after),
    dynamoMsPerRequest: perRequest(dynamoBefore, dynamoAfter),
    after,
    dynamoAfter,
  };
}

type Child = Awaited<ReturnType<typeof startChild>>;

/** One concurrency level, direct to the model and through the gateway, printed as a table row. */
async function measureLevel(
  model: Child,
  dynamo: Child,
  gateway: Child,
  concurrency: number,
): Promise<LevelReport> {
  const direct = await runLevel(model.ready.baseUrl, undefined, concurrency);
  const chat = await measureGateway(gateway, dynamo, concurrency, 'chat');
  const responses = await measureGateway(gateway, dynamo, concurrency, 'responses');
  const viaGateway = chat.result;
  const { cpuMsPerRequest, dynamoMsPerRequest, after, dynamoAfter } = chat;
  const report: LevelReport = {
    concurrency,
    direct,
    gateway: viaGateway,
    gatewayCpuMsPerRequest: cpuMsPerRequest,
    dynaliteCpuMsPerRequest: dynamoMsPerRequest,
    gatewayLoopDelay: after.loopDelay,
    dynaliteLoopDelay: dynamoAfter.loopDelay,
    ttftP50Ratio: viaGateway.ttftP50 / direct.ttftP50,
    responses: {
      gateway: responses.result,
      gatewayCpuMsPerRequest: responses.cpuMsPerRequest,
      dynaliteCpuMsPerRequest: responses.dynamoMsPerRequest,
      ttftP50Ratio: responses.result.ttftP50 / direct.ttftP50,
      cpuVsChat: responses.cpuMsPerRequest / cpuMsPerRequest,
      ttftVsChat: responses.result.ttftP50 / viaGateway.ttftP50,
    },
  };
  for (const [name, r, measured] of [
    ['direct', direct, undefined],
    ['gateway', viaGateway, chat],
    ['response', responses.result, responses],
  ] as const) {
    const extra = measured
      ? `${`${measured.cpuMsPerRequest.toFixed(2)} ms`.padStart(17)} ${`${measured.dynamoMsPerRequest.toFixed(2)} ms`.padStart(17)}  ${(r.ttftP50 / direct.ttftP50).toFixed(3).padStart(14)}`
      : '';
    console.log(
      `${String(concurrency).padStart(4)}  ${name.padEnd(8)} ${String(r.requests).padStart(5)} ${ms(r.ttftP50)} ${ms(r.ttftP99)} ${ms(r.totalP50)} ${ms(r.totalP99)} ${r.requestsPerSecond.toFixed(1).padStart(9)} ${extra}`,
    );
  }
  console.log(
    `${' '.repeat(16)}Responses vs chat: gateway CPU/req x${(responses.cpuMsPerRequest / cpuMsPerRequest).toFixed(3)}, TTFT p50 x${(responses.result.ttftP50 / viaGateway.ttftP50).toFixed(3)}`,
  );
  if (ROUNDS > 1)
    report.responses.rounds = await alternatingRounds(dynamo, gateway, concurrency, report);
  const delay = (d: Cpu['loopDelay']) => `${d.p50Ms.toFixed(1)} / ${d.p99Ms.toFixed(1)} ms`;
  console.log(
    `${' '.repeat(16)}event-loop delay p50 / p99: gateway ${delay(after.loopDelay)}, dynalite ${delay(dynamoAfter.loopDelay)}`,
  );
  return report;
}

const median = (values: number[]) => percentile(values, 50);

/**
 * BENCH_ROUNDS: more chat-then-Responses pairs at this level, each pair's ratios printed, then the
 * medians over all pairs (the first pair is the one measured above).
 */
async function alternatingRounds(
  dynamo: Child,
  gateway: Child,
  concurrency: number,
  first: LevelReport,
): Promise<{ cpuVsChat: number; ttftVsChat: number; loadAverage: number }[]> {
  const rounds = [
    {
      cpuVsChat: first.responses.cpuVsChat,
      ttftVsChat: first.responses.ttftVsChat,
      loadAverage: os.loadavg()[0] ?? Number.NaN,
    },
  ];
  for (let round = 2; round <= ROUNDS; round += 1) {
    const chat = await measureGateway(gateway, dynamo, concurrency, 'chat');
    const responses = await measureGateway(gateway, dynamo, concurrency, 'responses');
    const pair = {
      cpuVsChat: responses.cpuMsPerRequest / chat.cpuMsPerRequest,
      ttftVsChat: responses.result.ttftP50 / chat.result.ttftP50,
      loadAverage: os.loadavg()[0] ?? Number.NaN,
    };
    rounds.push(pair);
    console.log(
      `${' '.repeat(16)}round ${round}: chat ${chat.cpuMsPerRequest.toFixed(2)} ms CPU/req, TTFT p50 ${chat.result.ttftP50.toFixed(1)} ms; ` +
        `Responses ${responses.cpuMsPerRequest.toFixed(2)} ms, ${responses.result.ttftP50.toFixed(1)} ms: ` +
        `x${pair.cpuVsChat.toFixed(3)} CPU, x${pair.ttftVsChat.toFixed(3)} TTFT (load ${pair.loadAverage.toFixed(2)})`,
    );
  }
  console.log(
    `${' '.repeat(16)}median of ${rounds.length} rounds: Responses vs chat gateway CPU/req x${median(rounds.map((r) => r.cpuVsChat)).toFixed(3)}, ` +
      `TTFT p50 x${median(rounds.map((r) => r.ttftVsChat)).toFixed(3)}`,
  );
  return rounds;
}

async function main(): Promise<void> {
  const model = await startChild('model', {
    BENCH_TTFT_MS: String(TTFT_MS),
    BENCH_TOKENS_PER_SECOND: String(TOKENS_PER_SECOND),
    BENCH_REPLY_TOKENS: String(REPLY_TOKENS),
  });
  const dynamo = await startChild('dynamo', {});
  const gateway = await startChild('gateway', {
    TIERLINE_UPSTREAM_URL: model.ready.baseUrl,
    BENCH_DYNAMO_ENDPOINT: dynamo.ready.baseUrl,
  });
  const host = machine();
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  const levels: LevelReport[] = [];
  try {
    // Warm both paths (JIT, connections) and every customer's authorizer decision and counters: in
    // AWS the authorizer cache is per key too; a customer's first request of a day writes a new
    // counter item.
    for (let i = 0; i < 5; i += 1) await streamOnce(model.ready.baseUrl, undefined, 'warm up');
    await Promise.all(
      (gateway.ready.apiKeys ?? []).map((key) => streamOnce(gateway.ready.baseUrl, key, 'warm up')),
    );
    // Then until the JIT has settled: measured, a first level right after 64 requests cost a third
    // more CPU per request than the same level run again (22.0 -> 16.5 ms at concurrency 16). A
    // warm Lambda environment serves many requests; cold starts are measured apart
    // (bench:tokenizers).
    const warmUpRequests = quick ? 0 : Number(process.env.BENCH_WARMUP ?? '256');
    if (warmUpRequests > 0) {
      for (const api of ['chat', 'responses'] as const)
        await runLevel(gateway.ready.baseUrl, gateway.ready.apiKeys, 16, warmUpRequests / 16, api);
    }
    console.log(
      `Machine: ${host.cores} cores (${host.cpuModel}), ${host.memoryGiB} GiB, Node ${host.node}, commit ${host.commit}; ` +
        `load average before: ${host.loadAverageBefore.map((l) => l.toFixed(2)).join(' ')} (1/5/15 min)`,
    );
    console.log(
      `Model pace: ${TTFT_MS} ms to first token, ${TOKENS_PER_SECOND} tokens/s, ${REPLY_TOKENS} tokens per reply; streamed requests.`,
    );
    console.log(
      'conc  path      reqs   TTFT p50   TTFT p99  total p50  total p99     req/s   gateway CPU/req  dynalite CPU/req  TTFT p50 ratio',
    );
    for (const concurrency of LEVELS) {
      levels.push(await measureLevel(model, dynamo, gateway, concurrency));
    }
    console.log(
      '\nGateway CPU/req: user+system CPU of the local-mode process (API app, authorizer code, usage-plan emulation,\n' +
        'metering) per request of that level. dynalite CPU/req: the process standing in for DynamoDB (the metering\n' +
        "writes of each request). Event-loop delay: how long ready work waited for each process's one thread\n" +
        "during the level. All processes share this machine's cores with the load generator.",
    );
    const gatewayPeakRssMiB = (await cpuOf(gateway.child)).peakRssMiB;
    console.log(
      `Gateway peak RSS: ${gatewayPeakRssMiB.toFixed(0)} MiB with up to 64 streams in one process (the chat function ` +
        'on per-invocation Lambda holds one stream per environment; its 1,024 MB buys CPU, not memory).',
    );
    const loadAverageAfter = os.loadavg();
    console.log(
      `Load average after: ${loadAverageAfter.map((l) => l.toFixed(2)).join(' ')} (1/5/15 min)`,
    );
    const out =
      process.env.BENCH_OUT ??
      path.join(
        __dirname,
        'results',
        `gateway-overhead-${new Date().toISOString().replace(/[:.]/g, '-')}.json`,
      );
    mkdirSync(path.dirname(out), { recursive: true });
    const modelPace = {
      ttftMs: TTFT_MS,
      tokensPerSecond: TOKENS_PER_SECOND,
      replyTokens: REPLY_TOKENS,
    };
    const result = {
      benchmark: 'gateway-overhead',
      at: new Date().toISOString(),
      quick,
      machine: host,
      loadAverageAfter,
      modelPace,
      levels,
    };
    writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`Result written to ${path.relative(process.cwd(), out)}`);
  } finally {
    await new Promise<void>((resolve) => {
      gateway.child.once('exit', () => resolve());
      gateway.child.send('exit');
    });
    model.child.kill();
    dynamo.child.kill();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
