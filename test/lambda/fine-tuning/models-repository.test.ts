import type { Principal } from '../../../lambda/customers/authenticate';
import { defaultProjectId } from '../../../lambda/customers/key-permissions';
import { everyProject } from '../../../lambda/customers/project-ownership';
import {
  FineTunedModelResolver,
  READY_MODEL_CACHE_MS,
  readyFineTunes,
} from '../../../lambda/fine-tuning/model-resolver';
import {
  type FineTunedModel,
  ModelsRepository,
} from '../../../lambda/fine-tuning/models-repository';
import { createDocumentClient } from '../../../lambda/storage/document-client';
import { loadConfig } from '../../../lib/config/load';
import { ensureFineTuningTable } from '../../../local/local-tables';
import { type LocalDynamo, startDynalite } from '../../support/dynalite';

const config = loadConfig({ env: 'dev' });
let dynamo: LocalDynamo;
let models: ModelsRepository;
let tables = 0;

beforeAll(async () => {
  dynamo = await startDynalite();
});
afterAll(() => dynamo.stop());
beforeEach(async () => {
  tables += 1;
  await ensureFineTuningTable(dynamo.client, `models-${tables}`);
  models = new ModelsRepository(createDocumentClient(dynamo.client), `models-${tables}`);
});

function model(overrides: Partial<FineTunedModel> = {}): FineTunedModel {
  return {
    modelId: 'ft:qwen3-8b:cus_a:bot:k1',
    modelKey: 'k1',
    customerId: 'cus_a',
    baseModel: 'qwen3-8b',
    componentName: 'tierline-dev-lora-k1',
    artifactUrl: 's3://b/adapters/k1/adapter.tar.gz',
    source: { kind: 'file', fileId: 'file-1' },
    name: 'bot',
    status: 'ready',
    createdAt: 100,
    ...overrides,
  };
}

/** A key of `customerId`'s default project (where models recorded without a project are), or of `projectId`. */
const principal = (
  customerId: string,
  tier: Principal['tier'] = 'enterprise',
  projectId = defaultProjectId(customerId),
) => ({ customerId, tier, projectId }) as Principal;
const inDefault = (customerId: string) => ({ customerId, projectId: defaultProjectId(customerId) });
const team = { customerId: 'cus_a', projectId: 'proj_team' };

describe('the fine-tuned model registry', () => {
  it('writes a record once: a second create answers the stored record, never overwrites it', async () => {
    expect(await models.create(model())).toEqual({ created: true, model: model() });
    const again = await models.create(model({ customerId: 'cus_b', status: 'deploying' }));
    expect(again).toEqual({ created: false, model: model() });
    expect(await models.get(model().modelId)).toEqual(model());
  });

  it('lists by owner, newest first, and nobody else', async () => {
    await models.create(model());
    await models.create(model({ modelId: 'ft:x:cus_a:b:k2', modelKey: 'k2', createdAt: 200 }));
    await models.create(model({ modelId: 'ft:x:cus_b:b:k3', modelKey: 'k3', customerId: 'cus_b' }));
    expect((await models.listByOwner(everyProject('cus_a'))).map((m) => m.modelKey)).toEqual([
      'k2',
      'k1',
    ]);
    expect((await models.listByOwner(everyProject('cus_b'))).map((m) => m.modelKey)).toEqual([
      'k3',
    ]);
    expect(await models.listByOwner(everyProject('cus_c'))).toEqual([]);
  });

  it('moves a status only from the states named, and deletes only for the owner', async () => {
    await models.create(model({ status: 'deploying' }));
    expect(await models.transition(model().modelId, ['ready'], 'deleting')).toBe(false);
    expect(await models.transition(model().modelId, ['deploying'], 'ready')).toBe(true);
    expect(await models.transition('ft:none', ['deploying'], 'ready')).toBe(false);
    expect(await models.delete(everyProject('cus_b'), model().modelId)).toBe(false);
    expect(await models.getOwned(everyProject('cus_b'), model().modelId)).toBeUndefined();
    expect(await models.delete(everyProject('cus_a'), model().modelId)).toBe(true);
    expect(await models.get(model().modelId)).toBeUndefined();
  });

  it("keeps a model to its project: read, listed and deleted only there; one without a project is the default project's", async () => {
    // k1: recorded before models carried a project; k2: the default project's by name; k3: a team's.
    await models.create(model());
    await models.create(
      model({
        modelId: 'ft:x:cus_a:b:k2',
        modelKey: 'k2',
        createdAt: 200,
        projectId: defaultProjectId('cus_a'),
      }),
    );
    await models.create(
      model({ modelId: 'ft:x:cus_a:b:k3', modelKey: 'k3', createdAt: 300, projectId: 'proj_team' }),
    );
    const keys = async (scope: Parameters<ModelsRepository['listByOwner']>[0], limit?: number) =>
      (await models.listByOwner(scope, limit)).map((m) => m.modelKey);
    expect(await keys(inDefault('cus_a'))).toEqual(['k2', 'k1']);
    expect(await keys(team)).toEqual(['k3']);
    expect(await keys({ customerId: 'cus_a', projectId: 'proj_none' })).toEqual([]);
    expect(await keys(everyProject('cus_a'))).toEqual(['k3', 'k2', 'k1']);
    // A limit counts the project's models, past the other project's newer one in the index.
    expect(await keys(inDefault('cus_a'), 1)).toEqual(['k2']);

    expect(await models.getOwned(inDefault('cus_a'), model().modelId)).toEqual(model());
    expect(await models.getOwned(team, model().modelId)).toBeUndefined();
    expect(await models.getOwned(team, 'ft:x:cus_a:b:k3')).toMatchObject({ modelKey: 'k3' });
    expect(await models.getOwned(inDefault('cus_a'), 'ft:x:cus_a:b:k3')).toBeUndefined();
    // Another organization's key naming the same project id sees nothing.
    expect(
      await models.getOwned({ customerId: 'cus_b', projectId: 'proj_team' }, 'ft:x:cus_a:b:k3'),
    ).toBeUndefined();

    // The delete's condition holds the project: another project's delete takes nothing.
    expect(await models.delete(team, model().modelId)).toBe(false);
    expect(await models.delete(inDefault('cus_a'), 'ft:x:cus_a:b:k3')).toBe(false);
    expect(
      await models.delete({ customerId: 'cus_b', projectId: 'proj_team' }, 'ft:x:cus_a:b:k3'),
    ).toBe(false);
    expect(await keys(everyProject('cus_a'))).toEqual(['k3', 'k2', 'k1']);
    expect(await models.delete(team, 'ft:x:cus_a:b:k3')).toBe(true);
    expect(await models.delete(inDefault('cus_a'), model().modelId)).toBe(true);
    expect(await keys(everyProject('cus_a'))).toEqual(['k2']);
  });

  it("lists a batch's project's ready models only", async () => {
    await models.create(model());
    await models.create(model({ modelId: 'ft:x:cus_a:b:k2', modelKey: 'k2', status: 'deploying' }));
    await models.create(
      model({ modelId: 'ft:x:cus_a:b:k3', modelKey: 'k3', projectId: 'proj_team' }),
    );
    const map = await readyFineTunes(models)(inDefault('cus_a'));
    expect([...map.entries()]).toEqual([
      [model().modelId, { baseModel: 'qwen3-8b', adapterName: 'tierline-dev-lora-k1' }],
    ]);
    expect([...(await readyFineTunes(models)(team)).keys()]).toEqual(['ft:x:cus_a:b:k3']);
  });
});

describe('resolving ft: models for chat', () => {
  it('reads once per cache time, and a deleted model answers 404 once the cache time has passed', async () => {
    await models.create(model());
    let now = 0;
    const calls = { n: 0 };
    const counted = {
      get: (id: string) => {
        calls.n += 1;
        return models.get(id);
      },
    };
    const resolver = new FineTunedModelResolver({ config, models: counted, nowMs: () => now });
    expect(await resolver.resolve(principal('cus_a'), model().modelId)).toMatchObject({
      baseModel: 'qwen3-8b',
      adapterName: 'tierline-dev-lora-k1',
      premiumPercent: 0,
    });
    await resolver.resolve(principal('cus_a'), model().modelId);
    expect(calls.n).toBe(1);
    await models.delete(everyProject('cus_a'), model().modelId);
    now += READY_MODEL_CACHE_MS + 1;
    await expect(resolver.resolve(principal('cus_a'), model().modelId)).rejects.toMatchObject({
      status: 404,
      code: 'model_not_found',
    });
  });

  it("answers another customer's model exactly like an unknown one, even when it is cached", async () => {
    await models.create(model());
    const resolver = new FineTunedModelResolver({ config, models });
    await resolver.resolve(principal('cus_a'), model().modelId);
    const theirs = await resolver
      .resolve(principal('cus_b'), model().modelId)
      .catch((e: Error) => e);
    const unknown = await resolver
      .resolve(principal('cus_b'), 'ft:x:cus_b:b:none')
      .catch((e: Error) => e);
    expect(theirs).toMatchObject({ status: 404, code: 'model_not_found', param: 'model' });
    expect(unknown).toMatchObject({ status: 404, code: 'model_not_found', param: 'model' });
  });

  it("answers another project's model exactly like an unknown one, even when it is cached", async () => {
    await models.create(model({ projectId: 'proj_team' }));
    await models.create(model({ modelId: 'ft:x:cus_a:b:k2', modelKey: 'k2' }));
    const resolver = new FineTunedModelResolver({ config, models });
    const teamKey = principal('cus_a', 'enterprise', 'proj_team');
    expect(await resolver.resolve(teamKey, model().modelId)).toMatchObject({
      adapterName: 'tierline-dev-lora-k1',
    });
    const answer = (modelId: string, caller: Principal) =>
      resolver.resolve(caller, modelId).then(
        () => 'served',
        (e: Error & { status?: number; code?: string; param?: string }) => ({
          status: e.status,
          code: e.code,
          param: e.param,
          message: e.message.replace(modelId, '<id>'),
        }),
      );
    const unknown = await answer('ft:x:cus_a:b:none', principal('cus_a'));
    expect(unknown).toMatchObject({ status: 404, code: 'model_not_found' });
    // The team's model, cached by the team's request, for the default project's key.
    expect(await answer(model().modelId, principal('cus_a'))).toEqual(unknown);
    // A model recorded without a project is the default project's: the team's key cannot use it.
    expect(await answer('ft:x:cus_a:b:k2', teamKey)).toEqual(unknown);
    expect(await answer('ft:x:cus_a:b:k2', principal('cus_a'))).toBe('served');
  });

  it('applies the tier: Developer at its premium, Free refused naming the tiers', async () => {
    await models.create(model({ customerId: 'cus_dev' }));
    const resolver = new FineTunedModelResolver({ config, models });
    expect(
      await resolver.resolve(principal('cus_dev', 'developer'), model().modelId),
    ).toMatchObject({
      premiumPercent: config.tiers.developer.lora.premiumPercent,
    });
    await expect(
      resolver.resolve(principal('cus_dev', 'free'), model().modelId),
    ).rejects.toMatchObject({
      status: 403,
      message: expect.stringMatching(/free tier \(available on: developer, enterprise\)/),
    });
  });
});
