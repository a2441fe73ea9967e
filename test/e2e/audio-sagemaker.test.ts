import {
  InvokeEndpointCommand,
  ModelError,
  SageMakerRuntimeClient,
} from '@aws-sdk/client-sagemaker-runtime';
import { mockClient } from 'aws-sdk-client-mock';
import Groq, { toFile as groqFile } from 'groq-sdk';
import OpenAI, { toFile } from 'openai';
import { SageMakerTranscriber } from '../../lambda/audio/sagemaker-transcriber';
import { loadConfig } from '../../lib/config/load';
import { type LocalMode, startLocalMode } from '../../local/local-mode';
import { wavFile } from '../support/audio-files';
import { expectSpecCompliance, specCheckedFetch } from '../support/spec-check';

/**
 * The AWS speech backend behind the real route: local mode on a real port with the SageMaker
 * transcriber in place of the test transcriber, its SageMaker client a stand-in that answers as
 * vLLM 0.11.2's transcription and translation routes do (`{"text": ...}` for `json`). The official
 * openai and groq-sdk clients see transcriptions and translations in the formats that serves, the
 * refusals AWS cannot serve, and a container failure.
 */

const TURBO = 'whisper-large-v3-turbo';
const runtime = new SageMakerRuntimeClient({ region: 'eu-west-1' });
const sagemaker = mockClient(runtime);

/** vLLM 0.11.2's `TranscriptionResponse` for `response_format=json`. */
const vllmAnswer = {
  text: ' Hello there. General Kenobi.',
  usage: { type: 'duration', seconds: 4 },
};

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
  beforeAll(async () => {
    local = await startLocalMode({
      config: loadConfig({ env: 'dev' }),
      port: 0,
      speech: new SageMakerTranscriber({ client: runtime, env: 'dev' }),
    });
    const key = local.demoCustomers.find((d) => d.tier === 'developer')?.apiKey;
    openai = new OpenAI({
      apiKey: key,
      baseURL: local.openAIBaseUrl,
      maxRetries: 0,
      fetch: spec.fetch,
    });
  });
  afterAll(() => local.stop());
  beforeEach(() => sagemaker.reset());

  it('answers the model’s text as json and text, with the duration the gateway measured', async () => {
    sagemaker.on(InvokeEndpointCommand).resolves(answering(vllmAnswer));
    const file = () => toFile(wavFile({ seconds: 4 }), 'kenobi.wav');

    const json = await openai.audio.transcriptions.create({
      file: await file(),
      model: TURBO,
      language: 'en',
    });
    expect(json).toMatchObject({
      text: 'Hello there. General Kenobi.',
      usage: { type: 'duration', seconds: 10 },
    });
    const text = await openai.audio.transcriptions.create({
      file: await file(),
      model: TURBO,
      response_format: 'text',
    });
    expect(text).toBe('Hello there. General Kenobi.\n');
    // Whatever the client asked, the container was asked json, at the transcription component.
    expect(await invocations()).toEqual([
      {
        endpoint: 'tierline-dev-whisper-large-v3-turbo',
        component: 'tierline-dev-whisper-large-v3-turbo-base',
        fields: { response_format: 'json', temperature: '0', language: 'en' },
      },
      {
        endpoint: 'tierline-dev-whisper-large-v3-turbo',
        component: 'tierline-dev-whisper-large-v3-turbo-base',
        fields: { response_format: 'json', temperature: '0' },
      },
    ]);
  });

  it('serves translations at the translation component, with openai under /v1 and groq-sdk under /openai/v1', async () => {
    sagemaker.on(InvokeEndpointCommand).resolves(answering({ text: ' Good morning, everyone.' }));

    const translation = await openai.audio.translations.create({
      file: await toFile(wavFile({ seconds: 12 }), 'guten-morgen.wav'),
      model: 'whisper-large-v3',
      prompt: 'A greeting.',
    });
    expect(translation).toMatchObject({
      text: 'Good morning, everyone.',
      usage: { type: 'duration', seconds: 12 },
    });
    const groq = new Groq({
      apiKey: local.demoCustomers.find((d) => d.tier === 'developer')?.apiKey,
      baseURL: local.url,
      maxRetries: 0,
      fetch: spec.fetch,
    });
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
        fields: { response_format: 'json', temperature: '0', prompt: 'A greeting.' },
      },
      { ...translate, fields: { response_format: 'json', temperature: '0' } },
    ]);
  });

  it('refuses word timestamps, formats written from segment times, and translations of turbo with a 400 without calling the model', async () => {
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
    for (const response_format of ['verbose_json', 'srt', 'vtt'] as const) {
      const timed = await openai.audio.translations
        .create({ file: await wav(), model: 'whisper-large-v3', response_format })
        .catch((error: unknown) => error);
      expect(timed).toBeInstanceOf(OpenAI.BadRequestError);
      expect(timed).toMatchObject({ param: 'response_format', code: 'unsupported_parameter' });
    }
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
