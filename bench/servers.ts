/**
 * Child processes of the benchmarks, so each server's CPU time can be measured on its own: `model`
 * serves the paced test model directly; `dynamo` runs dynalite; `gateway` runs local mode in front
 * of TIERLINE_UPSTREAM_URL, on the DynamoDB engine at BENCH_DYNAMO_ENDPOINT. Each sends
 * `{type:'ready', baseUrl, apiKey}` when listening and answers 'cpu' with its CPU usage and peak
 * RSS.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { OpenAICompatibleBackend } from '../lambda/inference/backends/openai-compatible-backend';
import { loadConfig } from '../lib/config/load';
import { startLocalMode } from '../local/local-mode';
import { startTestModelServer } from '../local/test-model-server';

function send(message: unknown): void {
  process.send?.(message);
}

/**
 * A V8 CPU profile of the measured part only (not the start-up, module loading or warm-up): the
 * benchmark sends `{profile: 'start'}` before a level and `{profile: 'stop', file}` after it.
 */
let profiler: Session | undefined;
// 10 ms: at 1 ms the monitor itself costs about 20 ms of CPU per second (measured idle), which the
// CPU per request would count.
const LOOP_RESOLUTION_MS = 10;
const loopDelays = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
loopDelays.enable();
async function profile(message: { profile: 'start' | 'stop'; file?: string }): Promise<void> {
  if (message.profile === 'start') {
    profiler = new Session();
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.start');
  } else if (profiler && message.file) {
    const { profile: result } = await profiler.post('Profiler.stop');
    writeFileSync(message.file, JSON.stringify(result));
    profiler.disconnect();
    profiler = undefined;
  }
  send({ type: 'profiled', file: message.file });
}

process.on('message', (message) => {
  if (message === 'exit') process.exit(0);
  if (typeof message === 'object' && message !== null && 'profile' in message) {
    void profile(message as { profile: 'start' | 'stop'; file?: string });
    return;
  }
  if (message === 'cpu') {
    const { user, system } = process.cpuUsage();
    // The event loop's delay since the last 'cpu' message: how long ready work waited for the
    // thread. The histogram counts each sample's whole interval: the delay is what exceeds the
    // resolution.
    const delayMs = (p: number) => Math.max(0, loopDelays.percentile(p) / 1e6 - LOOP_RESOLUTION_MS);
    const loopDelay = { p50Ms: delayMs(50), p99Ms: delayMs(99) };
    loopDelays.reset();
    // maxRSS is in KiB: the process's peak resident memory so far.
    send({
      type: 'cpu',
      userMicros: user,
      systemMicros: system,
      peakRssMiB: process.resourceUsage().maxRSS / 1024,
      loopDelay,
    });
  }
});

async function main(role: string | undefined): Promise<void> {
  if (role === 'model') {
    const server = await startTestModelServer({
      timeToFirstTokenMs: Number(process.env.BENCH_TTFT_MS ?? '100'),
      tokensPerSecond: Number(process.env.BENCH_TOKENS_PER_SECOND ?? '100'),
      replyTokens: Number(process.env.BENCH_REPLY_TOKENS ?? '50'),
    });
    send({ type: 'ready', baseUrl: server.baseUrl });
    return;
  }
  if (role === 'dynamo') {
    // dynalite in a process of its own, so the gateway's CPU time leaves out the DynamoDB engine's.
    const dynalite = (await import('dynalite')).default;
    const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const { port } = server.address() as import('node:net').AddressInfo;
    send({ type: 'ready', baseUrl: `http://127.0.0.1:${port}` });
    return;
  }
  if (role === 'gateway') {
    const upstream = process.env.TIERLINE_UPSTREAM_URL;
    if (!upstream) throw new Error('TIERLINE_UPSTREAM_URL is required');
    const local = await startLocalMode({
      config: loadConfig({ env: 'dev' }),
      port: 0,
      backend: new OpenAICompatibleBackend({ baseUrl: upstream }),
      // In AWS the usage aggregates follow the ledger from the table stream, off the request path.
      aggregateInline: false,
      dynamoEndpoint: process.env.BENCH_DYNAMO_ENDPOINT,
    });
    // Enterprise: its usage plan's burst (1,000) does not throttle the benchmark's 64 concurrent
    // streams. One customer per client of the highest concurrency, as many callers would be.
    const apiKeys: string[] = [];
    for (let i = 0; i < 64; i += 1) {
      const { apiKey } = await local.operator.createCustomer({
        name: `Bench ${i}`,
        email: `bench-${i}@bench.local`,
        tier: 'enterprise',
      });
      if (apiKey) apiKeys.push(apiKey);
    }
    send({ type: 'ready', baseUrl: local.openAIBaseUrl, apiKeys });
    return;
  }
  throw new Error(`unknown role ${role}`);
}

main(process.argv[2]).catch((error) => {
  console.error(error);
  process.exit(1);
});
