import OpenAI, { toFile } from 'openai';
import { BatchesRepository } from '../../lambda/batches/batches-repository';
import { inDefaultProject } from '../../lambda/customers/project-ownership';
import { FilesRepository } from '../../lambda/files/files-repository';
import { TestModelBackend } from '../../lambda/inference/backends/test-model-backend';
import { loadConfig } from '../../lib/config/load';
import { LOCAL_FILES_TABLE } from '../../local/local-engines';
import { type LocalMode, startLocalMode } from '../../local/local-mode';
import { localModeDocumentClient } from '../support/dynalite';
import { type LocalClients, localClients } from '../support/local-clients';
import { expectSpecCompliance, specCheckedFetch } from '../support/spec-check';

/**
 * Keys that can only do what they are for, and OpenAI's administration API, over real HTTP with
 * the official `openai` client against local mode (the real authorizer code, dynalite). Every
 * answer is validated against OpenAI's published schemas and Tierline's /openapi.json.
 */
const MODEL = 'qwen3-8b';
const config = loadConfig({ env: 'dev' });

describe('keys that can only do what they are for', () => {
  const spec = specCheckedFetch();
  afterEach(() => expectSpecCompliance(spec));
  let local: LocalMode;
  let clients: LocalClients;
  const client = (apiKey: string, options: { project?: string } = {}) =>
    clients.admin(apiKey, options);
  /** A customer with its operator key (inference) and an admin key (what the operator CLI issues). */
  const newOrganization = async (name: string) => {
    const made = await clients.newOrganization(name, 'admin.test');
    return {
      customerId: made.customerId,
      inference: made.primary,
      admin: made.admin,
      adminKey: made.adminKey.key,
      adminKeyId: made.adminKey.id,
    };
  };
  /** A project key made with an admin key through `/v1/keys`, with the permissions asked for. */
  const projectKey = async (
    admin: OpenAI,
    permissions: unknown,
    project?: string,
  ): Promise<{ id: string; key: string; project_id: string }> =>
    admin.post('/keys', {
      body: { name: `key ${JSON.stringify(permissions)}`, permissions },
      ...(project ? { headers: { 'OpenAI-Project': project } } : {}),
    });
  const jsonl = () =>
    toFile(
      Buffer.from(
        `${JSON.stringify({ custom_id: 'a', method: 'POST', url: '/v1/chat/completions', body: { model: MODEL, messages: [{ role: 'user', content: 'hi' }] } })}\n`,
      ),
      'in.jsonl',
    );
  /** The error a call must end in (a success fails the test). */
  const refusal = (call: Promise<unknown>) =>
    call.then(
      () => {
        throw new Error('expected a refusal');
      },
      (error: unknown) => error as InstanceType<typeof OpenAI.APIError>,
    );
  const chat = (openai: OpenAI) =>
    openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] });

  beforeAll(async () => {
    local = await startLocalMode({
      config,
      port: 0,
      backend: new TestModelBackend({ replyTokens: 4, tokensPerSecond: 1_000 }),
      // Every decision is made again: a revoked key is refused on its next request.
      authorizerCacheTtlMs: 0,
      console: false,
    });
    clients = localClients(local, spec.fetch);
  }, 60_000);
  afterAll(() => local.stop());

  describe('a leaked inference key', () => {
    it('cannot create a key (403 saying to use an admin key or the console)', async () => {
      const org = await newOrganization('leak-create');
      const refused = await refusal(org.inference.post('/keys', { body: { name: 'mine now' } }));
      expect(refused).toBeInstanceOf(OpenAI.PermissionDeniedError);
      expect(refused).toMatchObject({ status: 403, type: 'permission_error' });
      expect(refused.message).toMatch(/project API key.*admin key/);
      // Nothing was made: the organization still has its primary key only.
      const keys = (await org.admin.get('/keys')) as { data: { id: string }[] };
      expect(keys.data.map((k) => k.id)).toEqual(['key_primary']);
    });

    it('cannot list keys', async () => {
      const org = await newOrganization('leak-list');
      const refused = await refusal(org.inference.get('/keys'));
      expect(refused).toBeInstanceOf(OpenAI.PermissionDeniedError);
      await expect(org.inference.admin.organization.projects.list()).rejects.toBeInstanceOf(
        OpenAI.PermissionDeniedError,
      );
    });

    it('cannot change (or read) the spend limit', async () => {
      const org = await newOrganization('leak-spend');
      await org.admin.put('/spend_limit', { body: { monthly_limit_usd: 3 } });
      const refused = await refusal(
        org.inference.put('/spend_limit', { body: { monthly_limit_usd: null } }),
      );
      expect(refused).toBeInstanceOf(OpenAI.PermissionDeniedError);
      await expect(org.inference.get('/spend_limit')).rejects.toBeInstanceOf(
        OpenAI.PermissionDeniedError,
      );
      // The limit is still there, and still binds the key.
      expect(await org.admin.get('/spend_limit')).toMatchObject({ monthly_limit_usd: 3 });
      await expect(chat(org.inference)).resolves.toMatchObject({ object: 'chat.completion' });
    });
  });

  it('refuses an admin key every inference route with 403', async () => {
    const org = await newOrganization('admin-no-chat');
    const refused = await refusal(chat(org.admin));
    expect(refused).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(refused.message).toMatch(/Admin keys .* project API key/);
    await expect(org.admin.models.list()).rejects.toBeInstanceOf(OpenAI.PermissionDeniedError);
    await expect(
      org.admin.files.create({ file: await jsonl(), purpose: 'batch' }),
    ).rejects.toBeInstanceOf(OpenAI.PermissionDeniedError);
    await expect(org.admin.batches.list()).rejects.toBeInstanceOf(OpenAI.PermissionDeniedError);
    await expect(org.admin.fineTuning.jobs.list()).rejects.toBeInstanceOf(
      OpenAI.PermissionDeniedError,
    );
    // Nor may one admin key mint another: that is an owner's, in the console, or the operator's.
    await expect(
      org.admin.admin.organization.adminAPIKeys.create({ name: 'another' }),
    ).rejects.toBeInstanceOf(OpenAI.PermissionDeniedError);
  });

  it('holds a read-only key to reading, and a chat-only key to chat', async () => {
    const org = await newOrganization('scoped');
    const readOnly = client((await projectKey(org.admin, 'read_only')).key);
    await expect(readOnly.files.list()).resolves.toBeDefined();
    const upload = await refusal(readOnly.files.create({ file: await jsonl(), purpose: 'batch' }));
    expect(upload).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(upload.message).toMatch(/read-only access to files/);
    await expect(chat(readOnly)).rejects.toBeInstanceOf(OpenAI.PermissionDeniedError);

    const chatOnly = client((await projectKey(org.admin, { chat: 'write' })).key);
    await expect(chat(chatOnly)).resolves.toMatchObject({ object: 'chat.completion' });
    const files = await refusal(chatOnly.files.create({ file: await jsonl(), purpose: 'batch' }));
    expect(files).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(files.message).toMatch(/no access to files/);
    await expect(chatOnly.files.list()).rejects.toBeInstanceOf(OpenAI.PermissionDeniedError);

    const refused = await refusal(
      org.admin.post('/keys', { body: { name: 'x', permissions: { chat: 'admin' } } }),
    );
    expect(refused).toMatchObject({ status: 400, param: 'permissions' });
  });

  it('runs projects, their keys, admin keys and the audit log through client.admin.organization', async () => {
    const org = await newOrganization('admin-api');
    const organization = org.admin.admin.organization;
    const listed = await organization.projects.list();
    expect(listed.data.map((p) => p.name)).toEqual(['Default project']);
    const project = await organization.projects.create({ name: 'Mobile app' });
    expect(project).toMatchObject({
      object: 'organization.project',
      name: 'Mobile app',
      status: 'active',
    });
    expect(await organization.projects.retrieve(project.id)).toMatchObject({ id: project.id });
    expect(await organization.projects.update(project.id, { name: 'Mobile' })).toMatchObject({
      name: 'Mobile',
    });

    // A key of the project, made by picking it with OpenAI-Project.
    const made = await projectKey(org.admin, 'all', project.id);
    expect(made.project_id).toBe(project.id);
    const keys = await organization.projects.apiKeys.list(project.id);
    expect(keys.data.map((k) => k.id)).toEqual([made.id]);
    expect(
      await organization.projects.apiKeys.retrieve(made.id, { project_id: project.id }),
    ).toMatchObject({
      id: made.id,
      owner: { type: 'service_account' },
    });
    // Bound to its project: naming another answers 401, naming its own works.
    const defaultId = listed.data[0]?.id as string;
    await expect(chat(client(made.key, { project: defaultId }))).rejects.toBeInstanceOf(
      OpenAI.AuthenticationError,
    );
    await expect(chat(client(made.key, { project: project.id }))).resolves.toBeDefined();
    // What the project key creates carries its project.
    const file = await client(made.key).files.create({ file: await jsonl(), purpose: 'batch' });
    const batch = await client(made.key).batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const doc = localModeDocumentClient(local.dynamoEndpoint);
    const files = new FilesRepository(doc, LOCAL_FILES_TABLE);
    const inProject = { customerId: org.customerId, projectId: project.id };
    expect((await files.getFile(inProject, file.id))?.projectId).toBe(project.id);
    expect(await files.getFile(inDefaultProject(org.customerId), file.id)).toBeUndefined();
    const batches = new BatchesRepository(doc, LOCAL_FILES_TABLE);
    expect((await batches.getBatch(org.customerId, batch.id))?.projectId).toBe(project.id);

    const admins = await organization.adminAPIKeys.list();
    expect(admins.data.map((k) => k.id)).toEqual([org.adminKeyId]);
    expect(await organization.adminAPIKeys.retrieve(org.adminKeyId)).toMatchObject({
      redacted_value: expect.stringMatching(/^tl_admin_/),
    });

    // Archiving revokes the project's keys.
    expect(await organization.projects.archive(project.id)).toMatchObject({ status: 'archived' });
    await expect(chat(client(made.key))).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    expect((await organization.projects.list()).data.map((p) => p.id)).toEqual([defaultId]);

    const log = await organization.auditLogs.list({ limit: 3 });
    expect(log.data.map((e) => e.type)).toEqual([
      'project.archived',
      'api_key.created',
      'project.updated',
    ]);
    expect(log.data[1]).toMatchObject({
      actor: { type: 'api_key', api_key: { id: org.adminKeyId } },
      project: { id: project.id, name: 'Mobile' },
      'api_key.created': { id: made.id },
    });
    expect(log.has_more).toBe(true);
    const older = await organization.auditLogs.list({ limit: 3, after: log.data[2]?.id });
    expect(older.data.map((e) => e.type)).toEqual(['project.created']);

    await expect(organization.adminAPIKeys.delete(org.adminKeyId)).resolves.toMatchObject({
      deleted: true,
    });
    await expect(organization.projects.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
  });

  it("never shows one organization's projects or keys to another's admin key (404)", async () => {
    const alice = await newOrganization('alice-org');
    const mallory = await newOrganization('mallory-org');
    const project = await alice.admin.admin.organization.projects.create({ name: 'Secret' });
    const key = await projectKey(alice.admin, 'all', project.id);
    const theirs = mallory.admin.admin.organization;

    await expect(theirs.projects.retrieve(project.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(theirs.projects.update(project.id, { name: 'Mine' })).rejects.toBeInstanceOf(
      OpenAI.NotFoundError,
    );
    await expect(theirs.projects.archive(project.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(theirs.projects.apiKeys.list(project.id)).rejects.toBeInstanceOf(
      OpenAI.NotFoundError,
    );
    await expect(
      theirs.projects.apiKeys.delete(key.id, { project_id: project.id }),
    ).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(theirs.adminAPIKeys.retrieve(alice.adminKeyId)).rejects.toBeInstanceOf(
      OpenAI.NotFoundError,
    );
    await expect(theirs.adminAPIKeys.delete(alice.adminKeyId)).rejects.toBeInstanceOf(
      OpenAI.NotFoundError,
    );
    // Picking another organization's project with OpenAI-Project is a 404 too.
    await expect(
      client(mallory.adminKey, { project: project.id }).get('/keys'),
    ).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    expect((await theirs.projects.list()).data.map((p) => p.name)).toEqual(['Default project']);
    expect(JSON.stringify((await theirs.auditLogs.list()).data)).not.toContain(project.id);
    // Alice's key still works.
    await expect(chat(client(key.key))).resolves.toBeDefined();
  });

  it('answers ids that name nothing, and bad pages, with 4xx in the OpenAI shape', async () => {
    const org = await newOrganization('bad-input');
    const organization = org.admin.admin.organization;
    const long = `proj_${'x'.repeat(2_000)}`;
    await expect(organization.projects.retrieve(long)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(organization.projects.apiKeys.list('../keys')).rejects.toBeInstanceOf(
      OpenAI.NotFoundError,
    );
    await expect(client(org.adminKey, { project: long }).get('/keys')).rejects.toBeInstanceOf(
      OpenAI.NotFoundError,
    );
    await expect(organization.projects.list({ limit: 0 })).rejects.toBeInstanceOf(
      OpenAI.BadRequestError,
    );
    await expect(organization.auditLogs.list({ after: 'x'.repeat(3_000) })).rejects.toBeInstanceOf(
      OpenAI.BadRequestError,
    );
    await expect(organization.projects.create({ name: ' ' })).rejects.toMatchObject({
      status: 400,
      param: 'name',
    });
    await expect(
      organization.projects.archive(org.customerId.replace('cus_', 'proj_')),
    ).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });
});
