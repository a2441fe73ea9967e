/**
 * The gateway's own cost of a transcription of the largest file a request may carry (4 MiB of
 * multipart body): local mode on a real port, the test transcriber (it does no work of its own), so
 * the time is reading the body, measuring the file, metering on dynalite and answering. Prints the
 * median and worst time per request, the time of the duration measurement alone, and the process's
 * peak memory growth while the requests ran. Run: npm run bench:transcription [requests]
 */
import { measureAudio } from '../lambda/audio/audio-duration';
import { MAX_AUDIO_REQUEST_BYTES } from '../lambda/http/routes/audio';
import { loadConfig } from '../lib/config/load';
import { startLocalMode } from '../local/local-mode';
import { mp3File, wavFile } from '../test/support/audio-files';

const REQUESTS = Number(process.argv[2] ?? 20);
/** Room for the multipart framing and the other fields. */
const FRAMING_BYTES = 1_024;

function largestFiles(): { name: string; bytes: Buffer }[] {
  const room = MAX_AUDIO_REQUEST_BYTES - FRAMING_BYTES;
  // 16 kHz 16-bit mono: 32,000 bytes per second.
  const wav = wavFile({ seconds: Math.floor((room - 44) / 32_000) });
  // 417-byte frames of 128 kbit/s (mp3 is the most frames per byte the walk has to count).
  const mp3 = mp3File({ frames: Math.floor(room / 417) });
  return [
    { name: 'largest.wav', bytes: wav },
    { name: 'largest.mp3', bytes: mp3 },
  ];
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

async function main() {
  const config = loadConfig({ env: 'dev' });
  const local = await startLocalMode({ config, port: 0 });
  const key = local.demoCustomers.find((customer) => customer.tier === 'enterprise')?.apiKey;
  if (!key) throw new Error('no enterprise demo key');
  try {
    for (const file of largestFiles()) {
      const measureStart = performance.now();
      const measured = await measureAudio(file.bytes);
      const measureMs = performance.now() - measureStart;
      const send = async () => {
        const form = new FormData();
        form.set('model', 'whisper-large-v3-turbo');
        form.set('response_format', 'verbose_json');
        form.set('file', new Blob([new Uint8Array(file.bytes)]), file.name);
        const start = performance.now();
        const response = await fetch(`${local.openAIBaseUrl}/audio/transcriptions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}` },
          body: form,
        });
        const body = await response.text();
        if (response.status !== 200) throw new Error(`${response.status}: ${body}`);
        return performance.now() - start;
      };
      await send(); // warm up (module loads, the first DynamoDB items)
      global.gc?.();
      const baseline = process.memoryUsage();
      let peakRss = baseline.rss;
      let peakHeap = baseline.heapUsed + baseline.arrayBuffers;
      const sampler = setInterval(() => {
        const now = process.memoryUsage();
        peakRss = Math.max(peakRss, now.rss);
        peakHeap = Math.max(peakHeap, now.heapUsed + now.arrayBuffers);
      }, 2);
      const times: number[] = [];
      for (let i = 0; i < REQUESTS; i++) times.push(await send());
      clearInterval(sampler);
      const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
      console.log(
        `${file.name}: ${mib(file.bytes.length)} MiB, ${measured.seconds.toFixed(1)} s of ${measured.format}; ` +
          `${REQUESTS} requests, gateway time median ${median(times).toFixed(1)} ms, worst ${Math.max(...times).toFixed(1)} ms ` +
          `(duration measurement alone ${measureMs.toFixed(1)} ms); peak memory growth: ` +
          `heap+buffers ${mib(peakHeap - baseline.heapUsed - baseline.arrayBuffers)} MiB, ` +
          `RSS ${mib(peakRss - baseline.rss)} MiB (process RSS peak ${mib(peakRss)} MiB, client and server in one process)`,
      );
    }
  } finally {
    await local.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
