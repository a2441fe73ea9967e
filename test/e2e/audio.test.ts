import { toFile as groqFile } from 'groq-sdk';
import OpenAI, { toFile } from 'openai';
import { TEST_MODEL_OWNER } from '../../lambda/inference/backends/test-model-backend';
import { loadConfig } from '../../lib/config/load';
import { type LocalMode, startLocalMode } from '../../local/local-mode';
import { MP3_FRAME_SECONDS, mp3File, wavFile } from '../support/audio-files';
import {
  audioFixture,
  withFlacTotalSamples,
  withMp4Duration,
  withOggGranules,
  withWebmTimes,
} from '../support/audio-fixtures';
import { type LocalClients, localClients } from '../support/local-clients';
import { expectSpecCompliance, specCheckedFetch } from '../support/spec-check';
import { clearOfMinuteBoundary } from '../support/windows';

/**
 * Speech-to-text end to end: local mode on a real port, the official `openai` and `groq-sdk`
 * clients, the deterministic test transcriber (it writes one segment per started 10 s of the
 * file's measured duration), every answer checked against OpenAI's and Tierline's schemas.
 */

const TURBO = 'whisper-large-v3-turbo';
const V3 = 'whisper-large-v3';
/** A small ASH on the Free tier, so the limit is reached with a few short files. */
const FREE_ASH = 60;
const config = loadConfig({
  env: 'dev',
  overrides: {
    tiers: {
      free: {
        speechToText: {
          [TURBO]: { rpm: 20, rpd: 2_000, ash: FREE_ASH, asd: 28_800, usdPerHour: 0 },
        },
      },
    },
  },
});

describe('speech-to-text against local mode', () => {
  const spec = specCheckedFetch();
  afterEach(() => expectSpecCompliance(spec));

  let local: LocalMode;
  let keys: Record<string, string>;
  let clients: LocalClients;
  let openai: OpenAI;
  const client = (tier: string) => clients.openai(keys[tier] as string);

  let largeWav: Buffer;
  beforeAll(async () => {
    // 16 kHz 16-bit mono: 32,000 bytes a second, 750 s = 24 MB, past the 4 MiB of one request.
    // Made before the server starts: seconds of synchronous work between two requests outlast
    // the server's keep-alive, and the client's pooled socket is reset under it.
    largeWav = wavFile({ seconds: 750 });
    local = await startLocalMode({ config, port: 0 });
    clients = localClients(local, spec.fetch);
    keys = { ...clients.keys };
    openai = client('developer');
    // Seconds of synchronous work and a local mode's start: past jest's 30 s at load 10 (once).
  }, 120_000);
  afterAll(() => local?.stop());

  it('transcribes a WAV file with the openai client, billed by its measured duration', async () => {
    const file = await toFile(wavFile({ seconds: 12.5 }), 'speech.wav');
    const response = await openai.audio.transcriptions
      .create({ file, model: TURBO, response_format: 'json' })
      .withResponse();
    expect(response.data.text).toBe(
      'Segment 1 of the wav file, 0 s to 10 s. Segment 2 of the wav file, 10 s to 12.5 s.',
    );
    expect(response.data.usage).toEqual({ type: 'duration', seconds: 13 });
    const headers = response.response.headers;
    expect(headers.get('x-ratelimit-limit-audio-seconds')).toBe('400000');
    expect(headers.get('x-ratelimit-remaining-audio-seconds')).toBe(String(400_000 - 13));
    expect(headers.get('x-ratelimit-limit-tokens')).toBeNull();
  });

  it('answers verbose_json with segments and words, srt, vtt and text', async () => {
    const wav = wavFile({ seconds: 15 });
    const verbose = await openai.audio.transcriptions.create({
      file: await toFile(wav, 'a.wav'),
      model: TURBO,
      response_format: 'verbose_json',
      timestamp_granularities: ['word', 'segment'],
      language: 'fr',
    });
    expect(verbose.language).toBe('french');
    expect(verbose.duration).toBe(15);
    expect(verbose.segments?.map((s) => [s.start, s.end])).toEqual([
      [0, 10],
      [10, 15],
    ]);
    expect(verbose.words?.[0]).toEqual({ word: 'Segment', start: 0, end: expect.any(Number) });
    expect(verbose.words?.at(-1)?.end).toBe(15);

    const srt = await openai.audio.transcriptions.create({
      file: await toFile(wav, 'a.wav'),
      model: TURBO,
      response_format: 'srt',
    });
    expect(srt).toBe(
      '1\n00:00:00,000 --> 00:00:10,000\nSegment 1 of the wav file, 0 s to 10 s.\n\n' +
        '2\n00:00:10,000 --> 00:00:15,000\nSegment 2 of the wav file, 10 s to 15 s.\n',
    );
    const vtt = await openai.audio.transcriptions.create({
      file: await toFile(wav, 'a.wav'),
      model: TURBO,
      response_format: 'vtt',
    });
    expect(vtt).toBe(
      'WEBVTT\n\n00:00:00.000 --> 00:00:10.000\nSegment 1 of the wav file, 0 s to 10 s.\n\n' +
        '00:00:10.000 --> 00:00:15.000\nSegment 2 of the wav file, 10 s to 15 s.\n',
    );
    const text = await openai.audio.transcriptions.create({
      file: await toFile(wav, 'a.wav'),
      model: TURBO,
      response_format: 'text',
    });
    expect(text).toBe(
      'Segment 1 of the wav file, 0 s to 10 s. Segment 2 of the wav file, 10 s to 15 s.\n',
    );
  });

  it('translates with the openai client; a model that cannot translate is a 400', async () => {
    const translation = (await openai.audio.translations.create({
      file: await toFile(mp3File({ frames: 400 }), 'talk.mp3'),
      model: V3,
      response_format: 'verbose_json',
    })) as OpenAI.Audio.TranslationVerbose;
    expect(translation.language).toBe('english');
    expect(translation.duration).toBeCloseTo(400 * MP3_FRAME_SECONDS, 2);
    expect(translation.segments).toHaveLength(2);
    await expect(
      openai.audio.translations.create({
        file: await toFile(mp3File({ frames: 40 }), 'talk.mp3'),
        model: TURBO,
      }),
    ).rejects.toMatchObject({ status: 400, code: 'model_not_supported', param: 'model' });
  });

  it('bills an MP3 whose Xing header lies by its frames, and a short file at least 10 s', async () => {
    // 2000 frames (52 s) whose header claims 10 frames (0.26 s).
    const lying = await openai.audio.transcriptions.create({
      file: await toFile(mp3File({ frames: 2_000, xingFrames: 10, variable: true }), 'lie.mp3'),
      model: TURBO,
      response_format: 'verbose_json',
    });
    expect(lying.duration).toBeCloseTo(2_000 * MP3_FRAME_SECONDS, 2);
    expect(lying.usage).toEqual({ type: 'duration', seconds: 53 });
    const short = await openai.audio.transcriptions.create({
      file: await toFile(wavFile({ seconds: 1 }), 'short.wav'),
      model: TURBO,
    });
    expect(short.usage).toEqual({ type: 'duration', seconds: 10 });
    // 60 s of µ-law whose fact chunk claims 20 ms and byte rate 4,000 times the real one.
    const codec = { formatTag: 7, bitsPerSample: 8, blockAlign: 1, dataBytes: 480_000 };
    const wav = wavFile({ seconds: 0, sampleRate: 8_000, factSamples: 160, codec });
    wav.writeUInt32LE(32_000_000, 28);
    const lyingWav = await openai.audio.transcriptions.create({
      file: await toFile(wav, 'lie.wav'),
      model: TURBO,
    });
    expect(lyingWav.usage).toEqual({ type: 'duration', seconds: 60 });
  });

  it('bills FLAC, Ogg, M4A and WebM whose headers declare 1 s by their real 30 s, in the answer and in usage', async () => {
    const usageSeconds = async () => {
      const answer = await spec.fetch(`${local.openAIBaseUrl}/usage?group_by=model`, {
        headers: { authorization: `Bearer ${keys.enterprise}` },
      });
      const body = (await answer.json()) as { data: { model: string; audio_seconds: number }[] };
      return body.data.find((line) => line.model === TURBO)?.audio_seconds ?? 0;
    };
    const enterprise = client('enterprise');
    const before = await usageSeconds();
    const lyingFiles = [
      { name: 'lie.flac', bytes: withFlacTotalSamples(audioFixture('flac'), 16_000), seconds: 30 },
      {
        name: 'lie.ogg',
        bytes: withOggGranules(audioFixture('oggOpus'), (old, index, count) =>
          old <= 0n ? old : BigInt(312 + Math.round((48_000 * (index + 1)) / count)),
        ),
        seconds: 31, // 30.0135 s of packets
      },
      { name: 'lie.m4a', bytes: withMp4Duration(audioFixture('m4a'), 1), seconds: 31 }, // 30.08 s
      {
        name: 'lie.webm',
        bytes: withWebmTimes(audioFixture('webmOpus'), {
          durationSeconds: 1,
          zeroTimestamps: true,
        }),
        seconds: 31,
      },
    ];
    for (const file of lyingFiles) {
      const answer = await enterprise.audio.transcriptions.create({
        file: await toFile(file.bytes, file.name),
        model: TURBO,
        response_format: 'verbose_json',
      });
      expect(answer.duration).toBeGreaterThanOrEqual(30);
      expect(answer.usage).toEqual({ type: 'duration', seconds: file.seconds });
      // The test transcriber writes a segment per started 10 s of the file it measured.
      expect(answer.segments).toHaveLength(Math.ceil(answer.duration / 10));
    }
    expect((await usageSeconds()) - before).toBe(30 + 31 + 31 + 31);
  });

  it('works with groq-sdk under /openai/v1', async () => {
    const groq = clients.groq(clients.keys.developer);
    const transcription = await groq.audio.transcriptions.create({
      file: await groqFile(wavFile({ seconds: 3 }), 'hi.wav'),
      model: TURBO,
      response_format: 'verbose_json',
    });
    expect(transcription.text).toBe('Segment 1 of the wav file, 0 s to 3 s.');
    const translation = await groq.audio.translations.create({
      file: await groqFile(wavFile({ seconds: 3 }), 'hi.wav'),
      model: V3,
    });
    expect(translation.text).toBe('Segment 1 of the wav file, 0 s to 3 s.');
  });

  it('transcribes a 24 MB file uploaded with /v1/uploads, named by Groq’s url field; only its owner may', async () => {
    const wav = largeWav;
    const upload = await openai.uploads.create({
      filename: 'lecture.wav',
      purpose: 'user_data',
      bytes: wav.byteLength,
      mime_type: 'audio/wav',
    });
    const partSize = 4 * 1024 * 1024 - 4_096; // each part is one request: under 4 MiB with framing
    const partIds: string[] = [];
    for (let offset = 0; offset < wav.byteLength; offset += partSize) {
      const part = await openai.uploads.parts.create(upload.id, {
        data: await toFile(wav.subarray(offset, offset + partSize), 'part'),
      });
      partIds.push(part.id);
    }
    const completed = await openai.uploads.complete(upload.id, { part_ids: partIds });
    const fileId = completed.file?.id ?? '';
    expect(completed.file).toMatchObject({ purpose: 'user_data', bytes: wav.byteLength });

    const groq = clients.groq(clients.keys.developer);
    const byId = await groq.audio.transcriptions.create({
      url: fileId,
      model: TURBO,
      response_format: 'verbose_json',
    });
    const verbose = byId as unknown as { duration: number; segments: unknown[]; text: string };
    expect(verbose.duration).toBe(750);
    expect(verbose.segments).toHaveLength(75);
    expect(verbose.text.endsWith('Segment 75 of the wav file, 740 s to 750 s.')).toBe(true);
    // Its content URL names it as well; the gateway reads its own storage, it fetches nothing.
    const byUrl = await groq.audio.transcriptions
      .create({ url: `${local.openAIBaseUrl}/files/${fileId}/content`, model: TURBO })
      .withResponse();
    expect(byUrl.data.text.startsWith('Segment 1 of the wav file')).toBe(true);
    expect(byUrl.response.headers.get('x-ratelimit-remaining-audio-seconds')).toBeTruthy();

    const refusal = async (key: string, fields: Record<string, string | Blob>) => {
      const form = new FormData();
      form.set('model', TURBO);
      for (const [name, value] of Object.entries(fields)) form.set(name, value);
      const response = await spec.fetch(`${local.openAIBaseUrl}/audio/transcriptions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}` },
        body: form,
      });
      return {
        status: response.status,
        error: ((await response.json()) as { error: unknown }).error,
      };
    };
    // Another customer's file is not found.
    // Named by the field the request used: a client cannot tell `file_id` from anything it sent.
    expect(await refusal(keys.enterprise ?? '', { url: fileId })).toMatchObject({
      status: 404,
      error: { type: 'invalid_request_error', param: 'url', code: 'file_not_found' },
    });
    expect(await refusal(keys.developer ?? '', { url: 'https://example.com/a.mp3' })).toMatchObject(
      { status: 400, error: { param: 'url', code: 'invalid_value' } },
    );
    expect(
      await refusal(keys.developer ?? '', {
        url: fileId,
        file: new Blob([wavFile({ seconds: 1 })]),
      }),
    ).toMatchObject({ status: 400, error: { param: 'url' } });
    const batchFile = await openai.files.create({
      file: await toFile(Buffer.from('{"a":1}\n'), 'b.jsonl'),
      purpose: 'batch',
    });
    // A user_data file that is not audio: refused when it is named, as an uploaded one would be.
    const notes = await openai.files.create({
      file: await toFile(Buffer.from('not audio at all'), 'notes.txt'),
      purpose: 'user_data',
    });
    expect(await refusal(keys.developer ?? '', { url: notes.id })).toMatchObject({
      status: 400,
      error: { param: 'url', code: 'invalid_file' },
    });
    expect(await refusal(keys.developer ?? '', { url: batchFile.id })).toMatchObject({
      status: 400,
      error: { param: 'url', message: expect.stringContaining('purpose user_data') },
    });
  });

  it('refuses bad input with OpenAI-shaped 4xx', async () => {
    const wav = await toFile(wavFile({ seconds: 2 }), 'a.wav');
    await expect(
      openai.audio.transcriptions.create({
        file: await toFile(Buffer.from('not audio at all, just text'), 'a.wav'),
        model: TURBO,
      }),
    ).rejects.toMatchObject({ status: 400, code: 'invalid_file', param: 'file' });
    await expect(
      openai.audio.transcriptions.create({ file: wav, model: 'qwen3-8b' }),
    ).rejects.toMatchObject({ status: 404, code: 'model_not_found' });
    // And the other way round: a chat completion on a speech model says where audio goes.
    await expect(
      openai.chat.completions.create({
        model: TURBO,
        messages: [{ role: 'user', content: 'hello' }],
      }),
    ).rejects.toMatchObject({ status: 400, code: 'model_not_supported', param: 'model' });
    const listed = await openai.models.retrieve(TURBO);
    expect(listed).toMatchObject({ id: TURBO, object: 'model', owned_by: TEST_MODEL_OWNER });
    await expect(
      openai.audio.transcriptions.create({
        file: await toFile(wavFile({ seconds: 2 }), 'a.wav'),
        model: TURBO,
        temperature: 3,
      }),
    ).rejects.toMatchObject({ status: 400, param: 'temperature' });
    await expect(
      openai.audio.transcriptions.create({
        file: await toFile(wavFile({ seconds: 2 }), 'a.wav'),
        model: TURBO,
        response_format: 'json',
        timestamp_granularities: ['word'],
      }),
    ).rejects.toMatchObject({ status: 400, param: 'timestamp_granularities[]' });
    await expect(
      openai.audio.transcriptions.create({
        file: await toFile(wavFile({ seconds: 2 }), 'a.wav'),
        model: TURBO,
        // @ts-expect-error: a format no API has
        response_format: 'mp3',
      }),
    ).rejects.toMatchObject({ status: 400, param: 'response_format' });
    // Shaped like a code but no language Whisper knows: refused here, not sent to the model.
    await expect(
      openai.audio.transcriptions.create({
        file: await toFile(wavFile({ seconds: 2 }), 'a.wav'),
        model: TURBO,
        language: 'zz',
      }),
    ).rejects.toMatchObject({ status: 400, param: 'language', code: 'invalid_language' });
    // Over the 4 MiB a buffered Lambda invocation takes: 413 before the body is read whole.
    await expect(
      openai.audio.transcriptions.create({
        file: await toFile(wavFile({ seconds: 140 }), 'long.wav'),
        model: TURBO,
      }),
    ).rejects.toMatchObject({ status: 413, code: 'request_too_large' });
    const missing = await spec.fetch(`${local.openAIBaseUrl}/audio/transcriptions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keys.developer}` },
      body: (() => {
        const form = new FormData();
        form.set('model', TURBO);
        return form;
      })(),
    });
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { error: { param: string } }).error.param).toBe('file');
  });

  it('admits concurrent files up to the ASH and no further (one conditional write each)', async () => {
    // Another local mode whose Enterprise ASH is 60: 8 files of 25 s at once.
    const ash = 60;
    const limited = loadConfig({
      env: 'dev',
      overrides: {
        tiers: {
          enterprise: {
            speechToText: {
              [TURBO]: { rpm: 100, rpd: 1_000, ash, asd: 28_800, usdPerHour: 0.04 },
            },
          },
        },
      },
    });
    // Its clock runs from ten minutes into an hour: the eight files are counted in one hour's ASH
    // whatever the real time (an hour is too long to wait out).
    const startedAt = Date.now();
    const tenPastTen = Date.parse('2026-12-08T10:10:00.000Z');
    const other = await startLocalMode({
      config: limited,
      port: 0,
      now: () => new Date(tenPastTen + (Date.now() - startedAt)),
    });
    try {
      const key = other.demoCustomers.find((d) => d.tier === 'enterprise')?.apiKey;
      const send = async () => {
        const form = new FormData();
        form.set('model', TURBO);
        form.set('file', new Blob([new Uint8Array(wavFile({ seconds: 25 }))]), 'a.wav');
        const answer = await spec.fetch(`${other.openAIBaseUrl}/audio/transcriptions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}` },
          body: form,
        });
        await answer.text();
        return answer.status;
      };
      const statuses = await Promise.all(Array.from({ length: 8 }, send));
      expect(statuses.filter((s) => s === 200)).toHaveLength(Math.floor(ash / 25));
      expect(statuses.filter((s) => s === 429)).toHaveLength(8 - Math.floor(ash / 25));
    } finally {
      await other.stop();
    }
  });

  it('stops a Free key at its ASH with a 429 and the audio headers; usage shows the seconds to their owner only', async () => {
    const free = client('free');
    const send = () =>
      free.audio.transcriptions.create({ file: wavFileFor(25), model: TURBO }).withResponse();
    const wavFileFor = (seconds: number) => new File([wavFile({ seconds })], 'a.wav');
    // The three files in one UTC hour, and the usage read in the same month (both end on a
    // minute's end): the third is refused by the first two's seconds, and usage shows both.
    await clearOfMinuteBoundary(15_000);
    const first = await send();
    expect(first.response.headers.get('x-ratelimit-remaining-audio-seconds')).toBe(
      String(FREE_ASH - 25),
    );
    await send();
    const refused = await send().catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
    const error = refused as InstanceType<typeof OpenAI.RateLimitError>;
    expect(error.message).toContain(
      'on audio seconds per hour (ASH): Limit 60, Used 50, Requested 25',
    );
    expect(error.headers?.get('x-ratelimit-limit-audio-seconds')).toBe(String(FREE_ASH));
    expect(error.headers?.get('x-ratelimit-remaining-audio-seconds')).toBe('10');
    expect(Number(error.headers?.get('retry-after'))).toBeGreaterThan(0);
    expect(error.headers?.get('x-ratelimit-reset-audio-seconds')).toMatch(/^(\d+m)?[\d.]+s$/);

    const usage = async (tier: string) => {
      const answer = await spec.fetch(`${local.openAIBaseUrl}/usage?group_by=model`, {
        headers: { authorization: `Bearer ${keys[tier]}` },
      });
      return (await answer.json()) as {
        data: { model: string; requests: number; audio_seconds: number; input_tokens: number }[];
      };
    };
    const mine = (await usage('free')).data.find((line) => line.model === TURBO);
    expect(mine).toMatchObject({ requests: 2, audio_seconds: 50, input_tokens: 0 });
    // The developer's own seconds, none of the free customer's.
    const theirs = (await usage('developer')).data.find((line) => line.model === TURBO);
    expect(theirs?.requests).toBeGreaterThan(0);
    expect(theirs?.audio_seconds).not.toBe(50);
  });
});
