import {
  InvokeEndpointCommand,
  ModelError,
  SageMakerRuntimeClient,
} from '@aws-sdk/client-sagemaker-runtime';
import { mockClient } from 'aws-sdk-client-mock';
import OpenAI, { toFile } from 'openai';
import { SageMakerTranscriber } from '../../lambda/audio/sagemaker-transcriber';
import { loadConfig } from '../../lib/config/load';
import { type LocalMode, startLocalMode } from '../../local/local-mode';
import { wavFile } from '../support/audio-files';
import { expectSpecCompliance, specCheckedFetch } from '../support/spec-check';

/**
 * The AWS speech backend behind the real route: local mode on a real port with the SageMaker
 * transcriber in place of the test transcriber, its SageMaker client a stand-in that answers as
 * vLLM's transcription route does. The official openai client sees Whisper's segments in every
 * format, the refusals AWS cannot serve, and a container failure.
 */

const TURBO = 'whisper-large-v3-turbo';
const runtime = new SageMakerRuntimeClient({ region: 'eu-west-1' });
const sagemaker = mockClient(runtime);

const vllmAnswer = {
  text: ' Hello there. General Kenobi.',
  language: 'en',
  duration: '4.0',
  segments: [
    { id: 0, seek: 0, start: 0, end: 1.5, temperature: 0, text: ' Hello there.', tokens: [1, 2] },
    { id: 1, seek: 0, start: 1.5, end: 3.9, temperature: 0, text: ' General Kenobi.', tokens: [3] },
  ],
};

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

  it('answers the model’s segments as verbose_json and srt, with the duration the gateway measured', async () => {
    sagemaker.on(InvokeEndpointCommand).resolves({
      Body: new TextEncoder().encode(JSON.stringify(vllmAnswer)) as never,
    });
    const file = () => toFile(wavFile({ seconds: 4 }), 'kenobi.wav');

    const verbose = await openai.audio.transcriptions.create({
      file: await file(),
      model: TURBO,
      response_format: 'verbose_json',
      language: 'en',
    });
    expect(verbose).toMatchObject({
      text: 'Hello there. General Kenobi.',
      language: 'english',
      duration: 4,
      segments: [
        expect.objectContaining({ id: 0, start: 0, end: 1.5, text: ' Hello there.' }),
        expect.objectContaining({ id: 1, start: 1.5, end: 3.9, text: ' General Kenobi.' }),
      ],
    });
    const srt = await openai.audio.transcriptions.create({
      file: await file(),
      model: TURBO,
      response_format: 'srt',
    });
    expect(srt).toBe(
      '1\n00:00:00,000 --> 00:00:01,500\nHello there.\n\n2\n00:00:01,500 --> 00:00:03,900\nGeneral Kenobi.\n',
    );
    // Whatever the client asked, the container was asked verbose_json, at the model's endpoint.
    for (const call of sagemaker.commandCalls(InvokeEndpointCommand)) {
      expect(call.args[0].input).toMatchObject({
        EndpointName: 'tierline-dev-whisper-large-v3-turbo',
        InferenceComponentName: 'tierline-dev-whisper-large-v3-turbo-base',
      });
      const form = await new Response(call.args[0].input.Body as Uint8Array, {
        headers: { 'content-type': call.args[0].input.ContentType ?? '' },
      }).formData();
      expect(form.get('response_format')).toBe('verbose_json');
    }
  });

  it('refuses word timestamps and translations with a 400 without calling the model', async () => {
    const words = await openai.audio.transcriptions
      .create({
        file: await toFile(wavFile({ seconds: 2 }), 'a.wav'),
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
    const translation = await openai.audio.translations
      .create({ file: await toFile(wavFile({ seconds: 2 }), 'a.wav'), model: 'whisper-large-v3' })
      .catch((error: unknown) => error);
    expect(translation).toMatchObject({ status: 400, param: 'model' });
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
