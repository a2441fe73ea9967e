/**
 * Child processes of the benchmarks, so each server's CPU time can be measured on its own:
 * `model` serves the paced test model directly; `gateway` runs local mode in front of TIERLINE_UPSTREAM_URL.
 * Each sends `{type:'ready', baseUrl, apiKey}` when listening and answers 'cpu' with its CPU usage.
 */
import { OpenAICompatibleBackend } from '../lambda/adapters/backends/openai-compatible-backend';
import { loadConfig } from '../lib/config/load';
import { startLocalMode } from '../local/local-mode';
import { startTestModelServer } from '../local/test-model-server';

function send(message: unknown): void {
  process.send?.(message);
}

process.on('message', (message) => {
  if (message === 'cpu') {
    const { user, system } = process.cpuUsage();
    send({ type: 'cpu', userMicros: user, systemMicros: system });
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
  if (role === 'gateway') {
    const upstream = process.env.TIERLINE_UPSTREAM_URL;
    if (!upstream) throw new Error('TIERLINE_UPSTREAM_URL is required');
    const local = await startLocalMode({
      config: loadConfig({ env: 'dev' }),
      port: 0,
      backend: new OpenAICompatibleBackend({ baseUrl: upstream }),
    });
    // Enterprise: its usage plan's burst (1,000) does not throttle the benchmark's 64 concurrent streams.
    const apiKey = local.demoCustomers.find((d) => d.tier === 'enterprise')?.apiKey;
    send({ type: 'ready', baseUrl: local.openAIBaseUrl, apiKey });
    return;
  }
  throw new Error(`unknown role ${role}`);
}

main(process.argv[2]).catch((error) => {
  console.error(error);
  process.exit(1);
});
