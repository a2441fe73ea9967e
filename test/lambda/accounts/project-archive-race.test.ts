import { Projects, ProjectsRepository } from '../../../lambda/accounts/projects';
import type { Principal } from '../../../lambda/customers/authenticate';
import { CustomerKeys, isAdminKey } from '../../../lambda/customers/customer-keys';
import type { CustomersRepository } from '../../../lambda/customers/customers-repository';
import { HttpError } from '../../../lambda/openai/errors';
import { createDocumentClient } from '../../../lambda/storage/document-client';
import { type LocalDynamo, newCustomersTable, startDynalite } from '../../support/dynalite';

/**
 * Archiving a project while keys are being created in it, against dynalite: the archive's write
 * and a key's write are ordered on the project item, so once both finish every key of the
 * archived project is either refused (400 project_archived) or revoked. Before, a key whose
 * create read the project active, then wrote after the archive had listed the keys, stayed
 * active in an archived project.
 */
describe('archiving a project while keys are created in it (dynalite)', () => {
  let dynamo: LocalDynamo;
  let customers: CustomersRepository;
  let projects: Projects;
  let keys: CustomerKeys;
  const created = '2026-11-01T00:00:00.000Z';
  const owner: Principal = {
    kind: 'session',
    projectId: 'proj_default',
    customerId: 'cus_archive',
    tier: 'developer',
    usageIdentifierKey: 'edge-archive',
  };

  beforeAll(async () => {
    dynamo = await startDynalite();
    const table = await newCustomersTable(dynamo);
    customers = table.repository;
    const doc = createDocumentClient(dynamo.client);
    projects = new Projects(new ProjectsRepository(doc, table.tableName), customers);
    keys = new CustomerKeys(customers);
    await customers.putCustomer({
      customerId: owner.customerId,
      name: 'Archive',
      email: 'archive@race.test',
      tier: 'developer',
      status: 'active',
      keyHash: 'primary-archive',
      createdAt: created,
      updatedAt: created,
    });
    await customers.putKey({
      keyHash: 'primary-archive',
      customerId: owner.customerId,
      tier: 'developer',
      usageIdentifierKey: 'edge-archive',
      status: 'active',
      createdAt: created,
    });
  });
  afterAll(() => dynamo.stop());

  /** What `POST /v1/keys` does in a project: the project must be active, then the key is issued. */
  async function createKey(projectId: string, name: string) {
    const inProject = { ...owner, projectId };
    await projects.requireActive(inProject, projectId);
    return keys.create(inProject, name, { kind: 'project_key', projectId, permissions: 'all' });
  }

  /** What `POST /v1/organization/projects/{id}/archive` does: archive, then revoke its keys. */
  async function archive(projectId: string) {
    const { keyHashes } = await projects.archive(owner, projectId);
    await keys.revokeProjectKeys(owner.customerId, keyHashes);
    for (const key of await keys.records(owner)) {
      if (!isAdminKey(key) && keys.projectOf(key) === projectId) {
        await keys.revoke(owner, key.keyId);
      }
    }
  }

  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it('leaves no active key in an archived project when 4 creates race an archive (20 rounds)', async () => {
    let refused = 0;
    for (let round = 0; round < 20; round += 1) {
      const project = await projects.create(owner, `race ${round}`);
      // Creates start a few milliseconds apart around the archive, so some read the project
      // before the archive's write and write their key after it.
      const outcomes = await Promise.allSettled([
        ...Array.from({ length: 4 }, (_, i) =>
          pause((round + i * 3) % 8).then(() => createKey(project.projectId, `k${round}-${i}`)),
        ),
        pause(round % 5).then(() => archive(project.projectId)),
      ]);
      for (const outcome of outcomes) {
        if (outcome.status === 'fulfilled') continue;
        expect(outcome.reason).toBeInstanceOf(HttpError);
        expect(outcome.reason).toMatchObject({ status: 400, code: 'project_archived' });
        refused += 1;
      }
      const left = (await keys.records(owner)).filter(
        (key) => keys.projectOf(key) === project.projectId && key.status === 'active',
      );
      expect(left.map((key) => key.keyId)).toEqual([]);
      expect((await projects.get(owner, project.projectId)).status).toBe('archived');
    }
    // The race was run, not avoided: some creates came after the archive and were refused.
    expect(refused).toBeGreaterThan(0);
  });

  it('stays archived when a rename races the archive (20 rounds): a rename never writes it back', async () => {
    for (let round = 0; round < 20; round += 1) {
      const project = await projects.create(owner, `renamed ${round}`);
      const outcomes = await Promise.allSettled([
        pause(round % 3).then(() => projects.rename(owner, project.projectId, `new ${round}`)),
        pause((round + 1) % 3).then(() => archive(project.projectId)),
      ]);
      const [rename] = outcomes;
      if (rename?.status === 'rejected') {
        expect(rename.reason).toMatchObject({ status: 400, code: 'project_archived' });
      }
      expect((await projects.get(owner, project.projectId)).status).toBe('archived');
    }
  });

  it('refuses a key whose create noted its hash just before the archive, and leaves no key', async () => {
    const project = await projects.create(owner, 'between');
    // The archive runs between the create's note on the project and its key's write.
    const racing = new CustomerKeys(
      Object.assign(Object.create(customers) as CustomersRepository, {
        registerProjectKey: async (customerId: string, projectId: string, keyHash: string) => {
          const noted = await customers.registerProjectKey(customerId, projectId, keyHash);
          await archive(project.projectId);
          return noted;
        },
      }),
    );
    const inProject = { ...owner, projectId: project.projectId };

    const refused = await racing
      .create(inProject, 'late', {
        kind: 'project_key',
        projectId: project.projectId,
        permissions: 'all',
      })
      .then(
        () => undefined,
        (error: unknown) => error,
      );

    expect(refused).toMatchObject({ status: 400, code: 'project_archived' });
    expect(
      (await keys.records(owner)).filter((key) => keys.projectOf(key) === project.projectId),
    ).toEqual([]);
  });
});
