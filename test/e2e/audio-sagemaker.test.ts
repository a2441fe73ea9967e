import {
  InvokeEndpointCommand,
  ModelError,
  SageMakerRuntimeClient,
} from '@aws-sdk/client-sagemaker-runtime';
import { mockClient } from 'aws-sdk-client-mock';
import { toFile as groqFile } from 'groq-sdk';
import OpenAI, { toFile } from 'openai';
import { SageMakerTranscriber } from '../../lambda/audio/sagemaker-transcriber';
import { loadConfig } from '../../lib/config/load';
import { type LocalMode, startLocalMode } from '../../local/local-mode';
import { wavFile } from '../support/audio-files';
import { type LocalClients, localClients } from '../support/local-clients';
import { expectSpecCompliance, specCheckedFetch } from '../support/spec-check';

/**
 * The AWS speech backend behind the real route: local mode on a real port with the SageMaker
 * transcriber in place of the test transcriber, its SageMaker client a stand-in that answers as
 * vLLM 0.31.0's transcription and translation routes do for `verbose_json` (text, language,
 * duration and Whisper's timed segments). The official openai and groq-sdk clients see
 * transcriptions and translations in every format written from that, the refusal of what vLLM
 * 0.31.0 cannot serve (word times), and a container failure.
 */

const TURBO = 'whisper-large-v3-turbo';
const runtime = new SageMakerRuntimeClient({ region: 'eu-west-1' });
const sagemaker = mockClient(runtime);

/**
 * vLLM 0.31.0's `TranscriptionResponseVerbose` / `TranslationResponseVerbose`, dumped whole: the
 * segments' texts joined by a space (`asr_inter_chunk_separator`), `words` null, each segment as
 * `_get_verbose_segments` makes it (`seek` the chunk's start in whole seconds, `no_speech_prob`
 * unset).
 */
function vllmVerbose(language: string, duration: number, timed: [number, number, string][]) {
  const segments = timed.map(([start, end, text], id) => ({
    id,
    avg_logprob: -0.3,
    compression_ratio: 0.95,
    end,
    no_speech_prob: null,
    seek: 0,
    start,
    temperature: 0,
    text,
    tokens: [50364 + id],
  }));
  return {
    duration,
    language,
    text: segments.map((segment) => segment.text).join(' '),
    segments,
    words: null,
  };
}

const vllmAnswer = vllmVerbose('en', 4, [
  [0, 1.5, ' Hello there.'],
  [1.5, 3.25, ' General Kenobi.'],
]);

const answering = (document: unknown) => ({
  Body: new TextEncoder().encode(JSON.stringify(document)) as never,
});

/** The form and names of every InvokeEndpoint the stand-in received. */
async function invocations() {
  return Promise.all(
    sagemaker.commandCalls(InvokeEndpointCommand).map(async (call) => {
      const { input } = call.args[0];
      const form = await new Response(input.Body as Uint8Array, {
        headers: { 'content-type': input.ContentType ?? '' },
      }).formData();
      return {
        endpoint: input.EndpointName,
        component: input.InferenceComponentName,
        fields: Object.fromEntries([...form.entries()].filter(([name]) => name !== 'file')),
      };
    }),
  );
}

describe('speech-to-text through the SageMaker transcriber', () => {
  const spec = specCheckedFetch();
  afterEach(() => expectSpecCompliance(spec));

  let local: LocalMode;
  let openai: OpenAI;
  let clients: LocalClients;
  beforeAll(async () => {
    local = await startLocalMode({
      config: loadConfig({ env: 'dev' }),
      port: 0,
      speech: new SageMakerTranscriber({ client: runtime, env: 'dev' }),
    });
    clients = localClients(local, spec.fetch);
    openai = clients.openai(clients.keys.developer);
  });
  afterAll(() => local.stop());
  beforeEach(() => sagemaker.reset());

  it('answers json, text, verbose_json, srt and vtt from the model’s segments', async () => {
    sagemaker.on(InvokeEndpointCommand).resolves(answering(vllmAnswer));
    const file = () => toFile(wavFile({ seconds: 4 }), 'kenobi.wav');
    const ask = async <F extends 'json' | 'text' | 'verbose_json' | 'srt' | 'vtt'>(
      response_format: F,
    ) =>
      openai.audio.transcriptions.create({
        file: await file(),
        model: TURBO,
        language: 'en',
        response_format,
      });

    // vLLM joins segment texts that each begin with a space by a space; one space is kept.
    const text = 'Hello there. General Kenobi.';
    expect(await ask('json')).toMatchObject({ text, usage: { type: 'duration', seconds: 10 } });
    expect(await ask('text')).toBe(`${text}\n`);
    expect(await ask('verbose_json')).toMatchObject({
      task: 'transcribe',
      language: 'english',
      duration: 4,
      text,
      segments: [
        // vLLM leaves no_speech_prob unset: 0 here, as OpenAI's shape has no null.
        { id: 0, start: 0, end: 1.5, text: ' Hello there.', avg_logprob: -0.3, no_speech_prob: 0 },
        { id: 1, seek: 0, start: 1.5, end: 3.25, text: ' General Kenobi.', tokens: [50365] },
      ],
    });
    expect(await ask('srt')).toBe(
      '1\n00:00:00,000 --> 00:00:01,500\nHello there.\n\n' +
        '2\n00:00:01,500 --> 00:00:03,250\nGeneral Kenobi.\n',
    );
    expect(await ask('vtt')).toBe(
      'WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello there.\n\n' +
        '00:00:01.500 --> 00:00:03.250\nGeneral Kenobi.\n',
    );
    // Whatever the client asked, the container was asked verbose_json, at the transcription component.
    const asked = {
      endpoint: 'tierline-dev-whisper-large-v3-turbo',
      component: 'tierline-dev-whisper-large-v3-turbo-base',
      fields: { response_format: 'verbose_json', temperature: '0', language: 'en' },
    };
    expect(await invocations()).toEqual([asked, asked, asked, asked, asked]);
  });

  it('serves translations at the translation component, with openai under /v1 and groq-sdk under /openai/v1', async () => {
    sagemaker
      .on(InvokeEndpointCommand)
      .resolves(answering(vllmVerbose('de', 12, [[0, 2.5, ' Good morning, everyone.']])));

    const translation = await openai.audio.translations.create({
      file: await toFile(wavFile({ seconds: 12 }), 'guten-morgen.wav'),
      model: 'whisper-large-v3',
      prompt: 'A greeting.',
    });
    expect(translation).toMatchObject({
      text: 'Good morning, everyone.',
      usage: { type: 'duration', seconds: 12 },
    });
    const groq = clients.groq(clients.keys.developer);
    const viaGroq = await groq.audio.translations.create({
      file: await groqFile(wavFile({ seconds: 3 }), 'guten-morgen.wav'),
      model: 'whisper-large-v3',
      response_format: 'text',
    });
    expect(String(viaGroq)).toBe('Good morning, everyone.\n');
    const translate = {
      endpoint: 'tierline-dev-whisper-large-v3',
      component: 'tierline-dev-whisper-large-v3-translate',
    };
    expect(await invocations()).toEqual([
      {
        ...translate,
        fields: { response_format: 'verbose_json', temperature: '0', prompt: 'A greeting.' },
      },
      { ...translate, fields: { response_format: 'verbose_json', temperature: '0' } },
    ]);
  });

  it('serves a translation as srt from the translation component’s segments', async () => {
    sagemaker
      .on(InvokeEndpointCommand)
      .resolves(answering(vllmVerbose('de', 3, [[0.4, 2.5, ' Good morning, everyone.']])));
    const srt = await openai.audio.translations.create({
      file: await toFile(wavFile({ seconds: 3 }), 'guten-morgen.wav'),
      model: 'whisper-large-v3',
      response_format: 'srt',
    });
    expect(srt).toBe('1\n00:00:00,400 --> 00:00:02,500\nGood morning, everyone.\n');
    expect((await invocations())[0]?.component).toBe('tierline-dev-whisper-large-v3-translate');
  });

  it('refuses word timestamps and translations of turbo with a 400 without calling the model', async () => {
    const wav = () => toFile(wavFile({ seconds: 2 }), 'a.wav');
    const words = await openai.audio.transcriptions
      .create({
        file: await wav(),
        model: TURBO,
        response_format: 'verbose_json',
        timestamp_granularities: ['word'],
      })
      .catch((error: unknown) => error);
    expect(words).toBeInstanceOf(OpenAI.BadRequestError);
    expect(words).toMatchObject({
      param: 'timestamp_granularities[]',
      code: 'unsupported_parameter',
    });
    const turbo = await openai.audio.translations
      .create({ file: await wav(), model: TURBO })
      .catch((error: unknown) => error);
    expect(turbo).toMatchObject({ status: 400, param: 'model' });
    expect(sagemaker.calls()).toHaveLength(0);
  });

  it('answers a container that refuses the file with a 400, and one that fails with a 502', async () => {
    sagemaker.on(InvokeEndpointCommand).rejectsOnce(
      new ModelError({
        message: 'Received client error (400) from primary',
        $metadata: {},
        OriginalStatusCode: 400,
        OriginalMessage: '{"error":{"message":"Invalid or unsupported audio file","code":400}}',
      }),
    );
    const refused = await openai.audio.transcriptions
      .create({ file: await toFile(wavFile({ seconds: 2 }), 'a.wav'), model: TURBO })
      .catch((error: unknown) => error);
    expect(refused).toMatchObject({
      status: 400,
      message: expect.stringContaining('Invalid or unsupported audio'),
    });

    sagemaker.on(InvokeEndpointCommand).resolvesOnce({
      Body: new TextEncoder().encode('Internal Server Error') as never,
    });
    const failed = await openai.audio.transcriptions
      .create({ file: await toFile(wavFile({ seconds: 2 }), 'a.wav'), model: TURBO })
      .catch((error: unknown) => error);
    expect(failed).toMatchObject({ status: 502 });
  });
});
