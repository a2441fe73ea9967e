/**
 * The gateway's own cost of a transcription of the largest files it takes: the largest direct
 * request (4 MiB of multipart body, WAV and MP3) and the largest stored file a request may name with
 * `url` (25 MB of WAV, uploaded once with /v1/uploads). Local mode on a real port, the test
 * transcriber (it does no work of its own), so the time is reading the body or the stored file,
 * measuring it, metering on dynalite and answering. Prints the median and worst time per request,
 * the duration measurement alone, and the process's peak memory growth while the requests ran.
 * Run: npm run bench:transcription [requests] [walked]; `walked` times the duration measurement
 * alone of 25 MB FLAC, Ogg, WebM and fragmented MP4 files instead.
 */
import { measureAudio } from '../lambda/audio/audio-duration';
import { MAX_AUDIO_REQUEST_BYTES, MAX_STORED_AUDIO_BYTES } from '../lambda/http/routes/audio';
import { loadConfig } from '../lib/config/load';
import { type LocalMode, startLocalMode } from '../local/local-mode';
import { mp3File, wavFile } from '../test/support/audio-files';
import { type AudioFixture, audioFixture } from '../test/support/audio-fixtures';

const REQUESTS = Number(process.argv[2] ?? 20);
/** Room for the multipart framing and the other fields. */
const FRAMING_BYTES = 1_024;
/** One upload part per request: under 4 MiB with its framing. */
const PART_BYTES = MAX_AUDIO_REQUEST_BYTES - 4_096;
/** 16 kHz 16-bit mono WAV: 32,000 bytes per second after a 44-byte header. */
const wavSecondsIn = (bytes: number) => Math.floor((bytes - 44) / 32_000);

function largestDirectFiles(): { name: string; bytes: Buffer }[] {
  const room = MAX_AUDIO_REQUEST_BYTES - FRAMING_BYTES;
  // 417-byte frames of 128 kbit/s (mp3 is the most frames per byte the walk has to count).
  const mp3 = mp3File({ frames: Math.floor(room / 417) });
  return [
    { name: 'largest.wav', bytes: wavFile({ seconds: wavSecondsIn(room) }) },
    { name: 'largest.mp3', bytes: mp3 },
  ];
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

/** Times `REQUESTS` calls of `send` after one warm-up, sampling the process's memory meanwhile. */
async function measured(send: () => Promise<number>) {
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
  return {
    line:
      `${REQUESTS} requests, gateway time median ${median(times).toFixed(1)} ms, worst ${Math.max(...times).toFixed(1)} ms; ` +
      `peak memory growth: heap+buffers ${mib(peakHeap - baseline.heapUsed - baseline.arrayBuffers)} MiB, ` +
      `RSS ${mib(peakRss - baseline.rss)} MiB (process RSS peak ${mib(peakRss)} MiB, client and server in one process)`,
  };
}

function transcriber(local: LocalMode, key: string) {
  return async (fields: Record<string, string | Blob>, fileName?: string) => {
    const form = new FormData();
    form.set('model', 'whisper-large-v3-turbo');
    form.set('response_format', 'verbose_json');
    for (const [name, value] of Object.entries(fields)) {
      if (typeof value === 'string') form.set(name, value);
      else form.set(name, value, fileName);
    }
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
}

/** Uploads `bytes` with /v1/uploads (parts of one request each) as a user_data file; its id and the time taken. */
async function upload(local: LocalMode, key: string, bytes: Buffer) {
  const call = async (path: string, body: string | FormData, json = true) => {
    const response = await fetch(`${local.openAIBaseUrl}${path}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${key}`,
        ...(json ? { 'content-type': 'application/json' } : {}),
      },
      body,
    });
    if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
    return (await response.json()) as { id: string; file?: { id: string } };
  };
  const start = performance.now();
  const created = await call(
    '/uploads',
    JSON.stringify({
      filename: 'largest-stored.wav',
      purpose: 'user_data',
      bytes: bytes.byteLength,
      mime_type: 'audio/wav',
    }),
  );
  const partIds: string[] = [];
  for (let offset = 0; offset < bytes.byteLength; offset += PART_BYTES) {
    const form = new FormData();
    form.set('data', new Blob([new Uint8Array(bytes.subarray(offset, offset + PART_BYTES))]), 'p');
    partIds.push((await call(`/uploads/${created.id}/parts`, form, false)).id);
  }
  const completed = await call(
    `/uploads/${created.id}/complete`,
    JSON.stringify({ part_ids: partIds }),
  );
  if (!completed.file) throw new Error('the upload made no file');
  return { fileId: completed.file.id, ms: performance.now() - start, parts: partIds.length };
}

/**
 * 25 MB files of the formats measured by walking their frames, packets or blocks, built from the
 * 30 s fixtures: FLAC, Ogg (chained streams) and WebM files repeated end to end, and the
 * fragmented MP4's fragments repeated after its `moov` (each fragment's offsets count from its
 * own `moof`). Their walkers step over the repeated headers as decoders do.
 */
function walkedFiles(): { name: string; bytes: Buffer }[] {
  const repeated = (name: AudioFixture, from = 0) => {
    const fixture = audioFixture(name);
    const body = fixture.subarray(from);
    const copies = Math.floor((MAX_STORED_AUDIO_BYTES - from) / body.length);
    return Buffer.concat([fixture.subarray(0, from), ...Array(copies).fill(body)]);
  };
  const mp4 = audioFixture('fragmentedMp4');
  return [
    { name: 'flac', bytes: repeated('flac') },
    { name: 'ogg opus', bytes: repeated('oggOpus') },
    { name: 'ogg vorbis', bytes: repeated('oggVorbis') },
    { name: 'webm opus', bytes: repeated('webmOpus') },
    { name: 'fragmented mp4', bytes: repeated('fragmentedMp4', mp4.indexOf('moof') - 4) },
  ];
}

/** The duration measurement alone of each walked format's 25 MB file: median and worst of REQUESTS. */
async function measureWalked() {
  for (const file of walkedFiles()) {
    const times: number[] = [];
    let seconds = 0;
    for (let i = 0; i <= REQUESTS; i++) {
      const start = performance.now();
      seconds = (await measureAudio(file.bytes)).seconds;
      if (i > 0) times.push(performance.now() - start); // the first warms the code up
    }
    console.log(
      `${file.name}: ${(file.bytes.length / 1e6).toFixed(1)} MB, ${seconds.toFixed(1)} s; duration ` +
        `measurement alone median ${median(times).toFixed(1)} ms, worst ${Math.max(...times).toFixed(1)} ms`,
    );
  }
}

async function main() {
  if (process.argv[3] === 'walked') return measureWalked();
  const config = loadConfig({ env: 'dev' });
  // Made before the server starts (seconds of synchronous work would outlast its keep-alive).
  const stored = wavFile({ seconds: wavSecondsIn(MAX_STORED_AUDIO_BYTES) });
  const direct = largestDirectFiles();
  const local = await startLocalMode({ config, port: 0 });
  const key = local.demoCustomers.find((customer) => customer.tier === 'enterprise')?.apiKey;
  if (!key) throw new Error('no enterprise demo key');
  const transcribe = transcriber(local, key);
  try {
    for (const file of direct) {
      const measureStart = performance.now();
      const audio = await measureAudio(file.bytes);
      const measureMs = performance.now() - measureStart;
      const blob = new Blob([new Uint8Array(file.bytes)]);
      const { line } = await measured(() => transcribe({ file: blob }, file.name));
      console.log(
        `${file.name} (direct): ${mib(file.bytes.length)} MiB, ${audio.seconds.toFixed(1)} s of ${audio.format}; ` +
          `${line}; duration measurement alone ${measureMs.toFixed(1)} ms`,
      );
    }
    const uploaded = await upload(local, key, stored);
    const measureStart = performance.now();
    const audio = await measureAudio(stored);
    const measureMs = performance.now() - measureStart;
    const { line } = await measured(() => transcribe({ url: uploaded.fileId }));
    console.log(
      `largest-stored.wav (url): ${(stored.length / 1e6).toFixed(1)} MB, ${audio.seconds.toFixed(1)} s of ${audio.format}; ` +
        `uploaded once in ${uploaded.parts} parts, ${uploaded.ms.toFixed(0)} ms; ${line}; ` +
        `duration measurement alone ${measureMs.toFixed(1)} ms`,
    );
  } finally {
    await local.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
