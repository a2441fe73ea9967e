import {
  CreateInferenceComponentCommand,
  DeleteInferenceComponentCommand,
  DescribeInferenceComponentCommand,
  SageMakerClient,
} from '@aws-sdk/client-sagemaker';
import {
  InvokeEndpointCommand,
  InvokeEndpointWithResponseStreamCommand,
  type ResponseStream,
  SageMakerRuntimeClient,
} from '@aws-sdk/client-sagemaker-runtime';
import { mockClient } from 'aws-sdk-client-mock';
import { toFile } from 'openai';
import { SageMakerBackend } from '../../lambda/inference/backends/sagemaker-backend';
import { loadConfig } from '../../lib/config/load';
import { LOCAL_FILES_BUCKET, type LocalMode, startLocalMode } from '../../local/local-mode';
import { adapterFiles, entriesOf, zipOf } from '../support/adapters';
import { type LocalClients, localClients } from '../support/local-clients';
import { expectSpecCompliance, specCheckedFetch } from '../support/spec-check';

/**
 * The AWS side of serving an uploaded adapter, over real HTTP with the openai client: the app,
 * dynalite and the embedded S3 server are real; SageMaker (control plane and runtime) is mocked,
 * and each request it gets is asserted exactly: CreateInferenceComponent on the base component,
 * DescribeInferenceComponent applied lazily on reads, InvokeEndpoint(WithResponseStream) with the
 * adapter's InferenceComponentName, and DeleteInferenceComponent. Another customer's id never
 * reaches SageMaker.
 */

const config = loadConfig({ env: 'dev' });
const BASE = 'qwen3-8b';
const architecture = config.models[BASE]?.architecture;
if (!architecture) throw new Error('no architecture');

const control = new SageMakerClient({ region: 'us-east-1' });
const controlMock = mockClient(control);
const runtime = new SageMakerRuntimeClient({ region: 'us-east-1' });
const runtimeMock = mockClient(runtime);

const encode = (text: string) => new TextEncoder().encode(text);
const usage = { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 };
const sent = (body: unknown) =>
  JSON.parse(
    typeof body === 'string' ? body : new TextDecoder().decode(body as Uint8Array),
  ) as Record<string, unknown>;

async function* events(...texts: string[]): AsyncGenerator<ResponseStream> {
  for (const text of texts) yield { PayloadPart: { Bytes: encode(text) } };
}

describe('uploaded adapters on SageMaker (mocked exactly)', () => {
  const spec = specCheckedFetch();
  afterEach(() => expectSpecCompliance(spec));
  let local: LocalMode;
  let keys: Record<string, string>;
  let clients: LocalClients;
  const client = (tier: string) => clients.openai(keys[tier] as string);

  beforeAll(async () => {
    local = await startLocalMode({
      config,
      port: 0,
      console: false,
      sagemaker: control,
      backend: new SageMakerBackend({ env: 'dev', client: runtime }),
    });
    clients = localClients(local, spec.fetch);
    keys = { ...clients.keys };
  });
  afterAll(() => local.stop());

  it('creates the component, waits for InService lazily, invokes the adapter component, deletes it', async () => {
    const openai = client('enterprise');
    const file = await openai.files.create({
      file: await toFile(
        await zipOf(entriesOf(adapterFiles({ architecture, baseModel: BASE }))),
        'a.zip',
      ),
      purpose: 'fine-tune',
    });
    controlMock.on(CreateInferenceComponentCommand).resolves({});
    controlMock
      .on(DescribeInferenceComponentCommand)
      .resolves({ InferenceComponentStatus: 'Creating' });
    const response = await spec.fetch(`${local.url}/v1/fine_tunings`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keys.enterprise}`, 'content-type': 'application/json' },
      body: JSON.stringify({ input_file_id: file.id, name: 'sm', type: 'lora', base_model: BASE }),
    });
    expect(response.status).toBe(200);
    const registered = (await response.json()) as {
      id: string;
      data: { fine_tuned_model: string; status: string };
    };
    expect(registered.data.status).toBe('deploying');
    const modelId = registered.data.fine_tuned_model;
    const key = registered.id.replace(/^ftune_/, '');
    const component = `tierline-dev-lora-${key}`;
    const customerId = local.demoCustomers.find((d) => d.tier === 'enterprise')?.customerId;

    expect(
      controlMock.commandCalls(CreateInferenceComponentCommand).map((c) => c.args[0].input),
    ).toEqual([
      {
        InferenceComponentName: component,
        EndpointName: 'tierline-dev-qwen3-8b',
        Specification: {
          BaseInferenceComponentName: 'tierline-dev-qwen3-8b-base',
          Container: { ArtifactUrl: `s3://${LOCAL_FILES_BUCKET}/adapters/${key}/adapter.tar.gz` },
        },
        Tags: [
          { Key: 'tierline:customer', Value: customerId },
          { Key: 'tierline:model', Value: key },
        ],
      },
    ]);

    // Not listed, and a chat answers 503 with retry-after, while the component is Creating.
    expect((await openai.models.list()).data.map((m) => m.id)).not.toContain(modelId);
    await expect(
      openai.chat.completions.create({
        model: modelId,
        messages: [{ role: 'user', content: 'x' }],
      }),
    ).rejects.toMatchObject({ status: 503 });
    expect(
      controlMock.commandCalls(DescribeInferenceComponentCommand).at(-1)?.args[0].input,
    ).toEqual({
      InferenceComponentName: component,
    });
    expect(runtimeMock.calls()).toHaveLength(0);

    // InService: ready on the next read.
    controlMock
      .on(DescribeInferenceComponentCommand)
      .resolves({ InferenceComponentStatus: 'InService' });
    expect(await openai.models.retrieve(modelId)).toMatchObject({
      id: modelId,
      owned_by: customerId,
      active: true,
    });

    // One stream from the adapter component answers both: LMI's JSON lines, the usage chunk last.
    const chunk = (content: string) =>
      JSON.stringify({
        id: 'x',
        object: 'chat.completion.chunk',
        created: 1,
        model: component,
        choices: [{ index: 0, delta: { content }, finish_reason: null }],
      });
    const finish = JSON.stringify({
      id: 'x',
      object: 'chat.completion.chunk',
      created: 1,
      model: component,
      choices: [{ index: 0, delta: {}, finish_reason: 'stop' }],
    });
    const usageChunk = JSON.stringify({
      id: 'x',
      object: 'chat.completion.chunk',
      created: 1,
      model: component,
      choices: [],
      usage,
    });
    runtimeMock.on(InvokeEndpointWithResponseStreamCommand).callsFake(async () => ({
      Body: events(`${chunk('hi')}\n`, `${chunk(' there')}\n${finish}\n${usageChunk}\n`),
    }));
    // Without `model`: LMI names the adapter itself from the adapter component SageMaker routes to.
    const expectedInput = {
      EndpointName: 'tierline-dev-qwen3-8b',
      InferenceComponentName: component,
      ContentType: 'application/json',
      Accept: 'application/json',
      Body: {
        max_tokens: 16,
        messages: [{ role: 'user', content: 'Hello' }],
        stream: true,
        stream_options: { include_usage: true },
      },
    };

    // Non-streamed: folded from the streaming call (InvokeEndpoint gives the container only 60 s).
    const completion = await openai.chat.completions.create({
      model: modelId,
      messages: [{ role: 'user', content: 'Hello' }],
      max_completion_tokens: 16,
    });
    expect(completion).toMatchObject({
      model: modelId,
      choices: [{ message: { content: 'hi there' } }],
    });
    expect(runtimeMock.commandCalls(InvokeEndpointCommand)).toHaveLength(0);
    const invoke = runtimeMock.commandCalls(InvokeEndpointWithResponseStreamCommand)[0]?.args[0]
      .input;
    expect({ ...invoke, Body: sent(invoke?.Body) }).toEqual(expectedInput);

    // Streamed: the same call.
    const stream = await openai.chat.completions.create({
      model: modelId,
      messages: [{ role: 'user', content: 'Hello' }],
      max_completion_tokens: 16,
      stream: true,
    });
    let text = '';
    for await (const part of stream) text += part.choices[0]?.delta.content ?? '';
    expect(text).toBe('hi there');
    const streamed = runtimeMock.commandCalls(InvokeEndpointWithResponseStreamCommand)[1]?.args[0]
      .input;
    expect({ ...streamed, Body: sent(streamed?.Body) }).toEqual(expectedInput);

    // Another customer's chat with it: 404, and nothing reaches SageMaker.
    const invocations = runtimeMock.calls().length;
    await expect(
      client('developer').chat.completions.create({
        model: modelId,
        messages: [{ role: 'user', content: 'x' }],
      }),
    ).rejects.toMatchObject({ status: 404, code: 'model_not_found' });
    await expect(client('developer').models.delete(modelId)).rejects.toMatchObject({ status: 404 });
    expect(runtimeMock.calls()).toHaveLength(invocations);
    expect(controlMock.commandCalls(DeleteInferenceComponentCommand)).toHaveLength(0);

    // The owner deletes it: the component goes (exact request), then the record.
    controlMock.on(DeleteInferenceComponentCommand).resolves({});
    expect(await openai.models.delete(modelId)).toEqual({
      id: modelId,
      object: 'model',
      deleted: true,
    });
    expect(
      controlMock.commandCalls(DeleteInferenceComponentCommand).map((c) => c.args[0].input),
    ).toEqual([{ InferenceComponentName: component }]);
    await expect(openai.models.retrieve(modelId)).rejects.toMatchObject({ status: 404 });
  });

  it('marks a model failed when its component fails, and says why in chat', async () => {
    const openai = client('enterprise');
    const file = await openai.files.create({
      file: await toFile(
        await zipOf(entriesOf(adapterFiles({ architecture, baseModel: BASE }))),
        'b.zip',
      ),
      purpose: 'fine-tune',
    });
    controlMock.on(CreateInferenceComponentCommand).resolves({});
    controlMock.on(DescribeInferenceComponentCommand).resolves({
      InferenceComponentStatus: 'Failed',
      FailureReason: 'adapter rank exceeds max_lora_rank',
    });
    const response = await spec.fetch(`${local.url}/v1/fine_tunings`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keys.enterprise}`, 'content-type': 'application/json' },
      body: JSON.stringify({ input_file_id: file.id, name: 'broken', base_model: BASE }),
    });
    const { id, data } = (await response.json()) as {
      id: string;
      data: { fine_tuned_model: string };
    };
    const read = await spec.fetch(`${local.url}/v1/fine_tunings/${id}`, {
      headers: { authorization: `Bearer ${keys.enterprise}` },
    });
    expect(await read.json()).toMatchObject({
      data: { status: 'failed', failure_reason: 'adapter rank exceeds max_lora_rank' },
    });
    await expect(
      openai.chat.completions.create({
        model: data.fine_tuned_model,
        messages: [{ role: 'user', content: 'x' }],
      }),
    ).rejects.toMatchObject({ status: 400, code: 'model_failed' });
  });
});
