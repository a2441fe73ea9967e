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

/** vLLM's `verbose_json` answer: `duration` a string, the segment scores unset (null). */
const vllmAnswer = {
  text: ' Hello there. General Kenobi.',
  language: 'en',
  duration: '3.0',
  segments: [
    {
      id: 0,
      seek: 0,
      start: 0,
      end: 1.2,
      temperature: 0.2,
      text: ' Hello there.',
      tokens: [50364, 2425, 456, 13],
      avg_logprob: null,
      compression_ratio: null,
      no_speech_prob: null,
    },
    {
      id: 1,
      seek: 0,
      start: 1.2,
      end: 2.9,
      temperature: 0.2,
      text: ' General Kenobi.',
      tokens: [],
    },
  ],
};

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
  it('sends vLLM’s transcription form to the model’s endpoint and reads its verbose_json', async () => {
    sagemaker.on(InvokeEndpointCommand).resolves(answering(vllmAnswer));

    const transcript = await transcriber.transcribe(
      request({ language: 'en', prompt: 'Star Wars' }),
    );

    const { input, form } = await sentForm();
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
    expect(form.get('response_format')).toBe('verbose_json');
    expect(form.get('temperature')).toBe('0.2');
    expect(form.get('language')).toBe('en');
    expect(form.get('prompt')).toBe('Star Wars');
    const file = form.get('file') as File;
    expect(file.name).toBe('audio.wav');
    expect(file.type).toBe('audio/wav');
    expect(Buffer.from(await file.arrayBuffer()).equals(wav)).toBe(true);

    expect(transcript).toEqual({
      text: 'Hello there. General Kenobi.',
      language: 'english',
      words: [],
      segments: [
        {
          id: 0,
          seek: 0,
          start: 0,
          end: 1.2,
          temperature: 0.2,
          text: ' Hello there.',
          tokens: [50364, 2425, 456, 13],
          avg_logprob: 0,
          compression_ratio: 0,
          no_speech_prob: 0,
        },
        expect.objectContaining({ id: 1, start: 1.2, end: 2.9, text: ' General Kenobi.' }),
      ],
    });
  });

  it('leaves out what the client did not give, and names the language vLLM defaults to', async () => {
    sagemaker.on(InvokeEndpointCommand).resolves(answering({ ...vllmAnswer, language: null }));

    const transcript = await transcriber.transcribe(request());

    const { form } = await sentForm();
    expect(form.has('language')).toBe(false);
    expect(form.has('prompt')).toBe(false);
    expect(form.has('model')).toBe(false);
    expect(transcript.language).toBe('english');
  });

  it('refuses translations and word timestamps before calling the endpoint', async () => {
    expect(
      transcriber.unsupported({ model: 'whisper-large-v3', task: 'translate', words: false }),
    ).toMatchObject({ param: 'model' });
    expect(
      transcriber.unsupported({ model: 'whisper-large-v3', task: 'transcribe', words: true }),
    ).toMatchObject({ param: 'timestamp_granularities[]' });
    expect(
      transcriber.unsupported({ model: 'whisper-large-v3', task: 'transcribe', words: false }),
    ).toBeUndefined();
    await expect(transcriber.transcribe(request({ task: 'translate' }))).rejects.toMatchObject({
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
    'cuts a %s above 6 MB into playable pieces under it and joins their segments on one clock',
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
          return answering({
            text: ` Piece of ${measured.seconds.toFixed(1)} s.`,
            language: 'en',
            duration: String(measured.seconds),
            segments: [
              {
                id: 0,
                seek: 0,
                start: 0,
                end: measured.seconds,
                temperature: 0,
                text: ' Piece.',
                tokens: [],
              },
            ],
          });
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
      // Every piece's segment on the whole file's clock, end to end, numbered from 0.
      expect(transcript.segments.map((segment) => segment.id)).toEqual(received.map((_, i) => i));
      expect(transcript.segments[0]?.start).toBe(0);
      for (let i = 1; i < transcript.segments.length; i++) {
        expect(transcript.segments[i]?.start).toBeCloseTo(transcript.segments[i - 1]?.end ?? -1, 3);
      }
      expect(transcript.segments.at(-1)?.end).toBeCloseTo(seconds, 1);
      expect(transcript.text.split('Piece of').length - 1).toBe(received.length);
    },
  );

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
