import {
  InvokeEndpointCommand,
  ModelError,
  SageMakerRuntimeClient,
  ValidationError,
} from '@aws-sdk/client-sagemaker-runtime';
import { mockClient } from 'aws-sdk-client-mock';
import { measureAudio } from '../../../lambda/audio/audio-duration';
import { SageMakerTranscriber } from '../../../lambda/audio/sagemaker-transcriber';
import type { SpeechRequest } from '../../../lambda/audio/speech-backend';
import { MAX_INVOKE_BODY_BYTES } from '../../../lambda/audio/vllm-speech-container';
import { BackendError } from '../../../lambda/inference/backends/model-backend';
import { mp3File, wavFile } from '../../support/audio-files';

const client = new SageMakerRuntimeClient({ region: 'eu-west-1' });
const sagemaker = mockClient(client);
const transcriber = new SageMakerTranscriber({ client, env: 'dev' });
const wav = wavFile({ seconds: 3 });

function request(overrides: Partial<SpeechRequest> = {}): SpeechRequest {
  return {
    model: 'whisper-large-v3-turbo',
    task: 'transcribe',
    file: { name: 'meeting.wav', bytes: new Uint8Array(wav), format: 'wav' },
    seconds: 3,
    temperature: 0.2,
    words: false,
    ...overrides,
  };
}

/**
 * A segment as vLLM 0.31.0's `_get_verbose_segments` makes it (base/serving.py): `seek` is the
 * chunk's start in whole seconds, `no_speech_prob` unset (null), the rest from Whisper's tokens.
 */
function vllmSegment(id: number, start: number, end: number, text: string, seek = 0) {
  return {
    id,
    avg_logprob: -0.21,
    compression_ratio: 0.9,
    end,
    no_speech_prob: null,
    seek,
    start,
    temperature: 0.2,
    text,
    tokens: [50364 + id, 400 + id],
  };
}

/**
 * vLLM 0.31.0's answer to `response_format=verbose_json`: `TranscriptionResponseVerbose` (or
 * `TranslationResponseVerbose`, the same fields) dumped whole: `words` stays null (nothing times
 * words), `text` is the segments' texts joined by the chunk separator, `language` the request's
 * (or the one Whisper detected).
 */
function vllmVerbose(segments: ReturnType<typeof vllmSegment>[], language = 'en', duration = 3) {
  return {
    duration,
    language,
    text: segments.map((segment) => segment.text).join(' '),
    segments,
    words: null,
  };
}

const vllmAnswer = vllmVerbose([
  vllmSegment(0, 0, 1.4, ' Hello there.'),
  vllmSegment(1, 1.4, 2.96, ' General Kenobi.'),
]);

const answering = (document: unknown) => ({
  Body: new TextEncoder().encode(JSON.stringify(document)) as never,
  ContentType: 'application/json',
});

/** The multipart body the stand-in received, read back as the container's FastAPI would. */
async function sentForm(): Promise<{ input: InvokeEndpointCommand['input']; form: FormData }> {
  const input = sagemaker.commandCalls(InvokeEndpointCommand)[0]?.args[0].input;
  if (!input) throw new Error('InvokeEndpoint was not called');
  const form = await new Response(input.Body as Uint8Array, {
    headers: { 'content-type': input.ContentType ?? '' },
  }).formData();
  return { input, form };
}

beforeEach(() => sagemaker.reset());

describe('SageMakerTranscriber', () => {
  it('sends vLLM’s transcription form to the model’s transcription component and reads its segments', async () => {
    sagemaker.on(InvokeEndpointCommand).resolves(answering(vllmAnswer));

    const transcript = await transcriber.transcribe(
      request({ language: 'en', prompt: 'Star Wars' }),
    );

    const { input, form } = await sentForm();
    expect(sagemaker.commandCalls(InvokeEndpointCommand)).toHaveLength(1);
    expect(input).toMatchObject({
      EndpointName: 'tierline-dev-whisper-large-v3-turbo',
      InferenceComponentName: 'tierline-dev-whisper-large-v3-turbo-base',
      Accept: 'application/json',
    });
    expect(input.ContentType).toMatch(/^multipart\/form-data; boundary=\S+$/);
    expect([...form.keys()].sort()).toEqual([
      'file',
      'language',
      'prompt',
      'response_format',
      'temperature',
    ]);
    // vLLM 0.31.0 answers segment times for `verbose_json`; every format is written from them.
    expect(form.get('response_format')).toBe('verbose_json');
    expect(form.get('temperature')).toBe('0.2');
    expect(form.get('language')).toBe('en');
    expect(form.get('prompt')).toBe('Star Wars');
    const file = form.get('file') as File;
    expect(file.name).toBe('audio.wav');
    expect(file.type).toBe('audio/wav');
    expect(Buffer.from(await file.arrayBuffer()).equals(wav)).toBe(true);

    expect(transcript).toEqual({
      // vLLM's text has two spaces where segments meet; the transcript keeps one.
      text: 'Hello there. General Kenobi.',
      language: 'english',
      words: [],
      segments: [
        {
          id: 0,
          seek: 0,
          start: 0,
          end: 1.4,
          text: ' Hello there.',
          tokens: [50364, 400],
          temperature: 0.2,
          avg_logprob: -0.21,
          compression_ratio: 0.9,
          no_speech_prob: 0,
        },
        {
          id: 1,
          seek: 0,
          start: 1.4,
          end: 2.96,
          text: ' General Kenobi.',
          tokens: [50365, 401],
          temperature: 0.2,
          avg_logprob: -0.21,
          compression_ratio: 0.9,
          no_speech_prob: 0,
        },
      ],
    });
  });

  it('sends a translation to the model’s translation component, as the form vLLM’s TranslationRequest reads', async () => {
    sagemaker
      .on(InvokeEndpointCommand)
      .resolves(answering(vllmVerbose([vllmSegment(0, 0, 2.1, ' Good morning, everyone.')], 'de')));

    const transcript = await transcriber.transcribe(
      request({ model: 'whisper-large-v3', task: 'translate', language: 'de', temperature: 0 }),
    );

    const { input, form } = await sentForm();
    expect(sagemaker.commandCalls(InvokeEndpointCommand)).toHaveLength(1);
    expect(input).toEqual({
      EndpointName: 'tierline-dev-whisper-large-v3',
      InferenceComponentName: 'tierline-dev-whisper-large-v3-translate',
      ContentType: expect.stringMatching(/^multipart\/form-data; boundary=\S+$/),
      Accept: 'application/json',
      Body: expect.any(Uint8Array),
    });
    // TranslationRequest (vLLM 0.31.0 translation/protocol.py): file, model, prompt, response_format, seed,
    // temperature, language, to_language, stream. No `model` (its one model), no `to_language`
    // (Whisper translates into English only).
    expect([...form.keys()].sort()).toEqual(['file', 'language', 'response_format', 'temperature']);
    expect(form.get('response_format')).toBe('verbose_json');
    expect(form.get('temperature')).toBe('0');
    expect(form.get('language')).toBe('de');
    expect(Buffer.from(await (form.get('file') as File).arrayBuffer()).equals(wav)).toBe(true);
    expect(transcript).toMatchObject({
      text: 'Good morning, everyone.',
      language: 'german',
      words: [],
      segments: [{ id: 0, start: 0, end: 2.1, text: ' Good morning, everyone.' }],
    });
  });

  it('leaves out what the client did not give, and names the language Whisper detected', async () => {
    sagemaker
      .on(InvokeEndpointCommand)
      .resolves(answering(vllmVerbose([vllmSegment(0, 0, 1, ' Bonjour.')], 'fr')));

    const transcript = await transcriber.transcribe(request());

    const { form } = await sentForm();
    expect(form.has('language')).toBe(false);
    expect(form.has('prompt')).toBe(false);
    expect(form.has('model')).toBe(false);
    expect(transcript.language).toBe('french');
  });

  it('refuses word timestamps, and only those, before calling the endpoint', async () => {
    const ask = (over: Partial<Parameters<typeof transcriber.unsupported>[0]>) =>
      transcriber.unsupported({
        model: 'whisper-large-v3',
        task: 'transcribe',
        words: false,
        responseFormat: 'json',
        ...over,
      });
    expect(ask({ words: true, responseFormat: 'verbose_json' })).toEqual({
      param: 'timestamp_granularities[]',
      message:
        "Word timestamps are not available for `whisper-large-v3` in this deployment: its server (vLLM 0.31.0) times no words. Leave 'timestamp_granularities[]' out.",
    });
    // Written from vLLM 0.31.0's segments, for transcriptions and translations alike.
    for (const responseFormat of ['verbose_json', 'srt', 'vtt'] as const) {
      expect(ask({ responseFormat })).toBeUndefined();
      expect(ask({ responseFormat, task: 'translate' })).toBeUndefined();
    }
    for (const task of ['transcribe', 'translate'] as const) {
      expect(ask({ task })).toBeUndefined();
      expect(ask({ task, responseFormat: 'text' })).toBeUndefined();
    }
    await expect(transcriber.transcribe(request({ words: true }))).rejects.toMatchObject({
      kind: 'bad_request',
    });
    expect(sagemaker.calls()).toHaveLength(0);
  });

  it('does not send a body InvokeEndpoint would refuse (over 6 MB) of a format it cannot cut', async () => {
    const big = new Uint8Array(MAX_INVOKE_BODY_BYTES + 1);
    await expect(
      transcriber.transcribe(request({ file: { name: 'a.flac', bytes: big, format: 'flac' } })),
    ).rejects.toMatchObject({
      kind: 'bad_request',
      message: expect.stringContaining('wav or mp3'),
    });
    expect(sagemaker.calls()).toHaveLength(0);
  });

  it.each([
    // 16 kHz 16-bit mono: 600 s is 19.2 MB.
    ['wav', wavFile({ seconds: 600 }), 600],
    // 128 kbit/s: 40,000 frames of 417 bytes (16.7 MB), 0.026 s each.
    ['mp3', mp3File({ frames: 40_000 }), 40_000 * 0.026122448979591838],
  ])(
    'cuts a %s above 6 MB into playable pieces under it and puts their segments on one clock',
    async (format, bytes, seconds) => {
      const received: { seconds: number; size: number }[] = [];
      sagemaker
        .on(InvokeEndpointCommand)
        .callsFake(async (input: InvokeEndpointCommand['input']) => {
          const body = input.Body as Uint8Array;
          const form = await new Response(body, {
            headers: { 'content-type': input.ContentType ?? '' },
          }).formData();
          const piece = new Uint8Array(await (form.get('file') as File).arrayBuffer());
          const measured = await measureAudio(piece);
          expect(measured.format).toBe(format);
          received.push({ seconds: measured.seconds, size: body.byteLength });
          const text = ` Piece of ${measured.seconds.toFixed(1)} s.`;
          return answering(
            vllmVerbose([vllmSegment(0, 0.5, measured.seconds, text)], 'en', measured.seconds),
          );
        });

      const transcript = await transcriber.transcribe(
        request({
          file: { name: `long.${format}`, bytes: new Uint8Array(bytes), format },
          seconds,
        }),
      );

      expect(received.length).toBe(
        Math.ceil(bytes.byteLength / (MAX_INVOKE_BODY_BYTES - 16 * 1024)),
      );
      for (const call of received) expect(call.size).toBeLessThanOrEqual(MAX_INVOKE_BODY_BYTES);
      const total = received.reduce((sum, call) => sum + call.seconds, 0);
      expect(total).toBeCloseTo(seconds, 1);
      // Every piece's segment on the whole file's clock: each starts where its piece starts.
      let pieceStart = 0;
      expect(transcript.segments).toHaveLength(received.length);
      transcript.segments.forEach((segment, i) => {
        const piece = received[i]?.seconds ?? 0;
        expect(segment.id).toBe(i);
        expect(segment.start).toBeCloseTo(pieceStart + 0.5, 6);
        expect(segment.end).toBeCloseTo(pieceStart + piece, 6);
        pieceStart += piece;
      });
      expect(transcript.text).toBe(
        received.map((call) => `Piece of ${call.seconds.toFixed(1)} s.`).join(' '),
      );
      expect(transcript.text.split('Piece of').length - 1).toBe(received.length);
    },
  );

  it('times the pieces of a WAV whose header lies about its byte rate by its sample frames, as billing measures it', async () => {
    // 600 s of 16 kHz 16-bit mono (32,000 bytes a second) declaring 320,000: ten times too fast.
    const bytes = wavFile({ seconds: 600, declaredByteRate: 320_000 });
    expect((await measureAudio(new Uint8Array(bytes))).seconds).toBeCloseTo(600, 6);
    const received: number[] = [];
    sagemaker.on(InvokeEndpointCommand).callsFake(async (input: InvokeEndpointCommand['input']) => {
      const form = await new Response(input.Body as Uint8Array, {
        headers: { 'content-type': input.ContentType ?? '' },
      }).formData();
      const piece = new Uint8Array(await (form.get('file') as File).arrayBuffer());
      const { seconds } = await measureAudio(piece);
      received.push(seconds);
      return answering(vllmVerbose([vllmSegment(0, 0.5, seconds, ' Piece.')], 'en', seconds));
    });

    const transcript = await transcriber.transcribe(
      request({
        file: { name: 'lying.wav', bytes: new Uint8Array(bytes), format: 'wav' },
        seconds: 600,
      }),
    );

    expect(received.length).toBeGreaterThan(1);
    let pieceStart = 0;
    transcript.segments.forEach((segment, i) => {
      expect(segment.start).toBeCloseTo(pieceStart + 0.5, 6);
      pieceStart += received[i] ?? 0;
      expect(segment.end).toBeCloseTo(pieceStart, 6);
    });
    expect(pieceStart).toBeCloseTo(600, 6);
  });

  it.each([
    [
      'the container refused the file (400)',
      new ModelError({
        message: 'Received client error (400) from primary',
        $metadata: {},
        OriginalStatusCode: 400,
        OriginalMessage: '{"error":{"message":"Invalid audio","code":400}}',
      }),
      'bad_request',
    ],
    [
      'the endpoint is not deployed',
      new ValidationError({
        message: 'Endpoint tierline-dev-whisper-large-v3-turbo of account 123456789012 not found.',
        $metadata: {},
      }),
      'unavailable',
    ],
  ])('maps %s as chat does', async (_case, error, kind) => {
    sagemaker.on(InvokeEndpointCommand).rejects(error);
    const failure = await transcriber.transcribe(request()).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(BackendError);
    expect(failure).toMatchObject({ kind });
    expect((failure as Error).message).not.toContain('123456789012');
  });

  it.each([
    ['not JSON', 'Internal Server Error'],
    ['an error document', JSON.stringify({ error: { message: 'engine dead', code: 500 } })],
    ['no text', JSON.stringify({ segments: [] })],
  ])('answers a model error for %s', async (_case, body) => {
    sagemaker.on(InvokeEndpointCommand).resolves({ Body: new TextEncoder().encode(body) as never });
    await expect(transcriber.transcribe(request())).rejects.toMatchObject({
      kind: 'model_error',
    });
  });
});
