import { Projects, ProjectsRepository } from '../../../lambda/accounts/projects';
import { HttpError } from '../../../lambda/openai/errors';
import { createDocumentClient } from '../../../lambda/storage/document-client';
import { type LocalDynamo, newCustomersTable, startDynalite } from '../../support/dynalite';

/**
 * The project cap against dynalite: concurrent creates cannot pass it (a slot is a conditional
 * increment, not a list then a write), and organizations with projects stored before the slots
 * item existed start from what they have.
 */
describe('project cap (dynalite)', () => {
  let dynamo: LocalDynamo;
  let repository: ProjectsRepository;
  const customers = { getCustomer: async () => undefined };

  beforeAll(async () => {
    dynamo = await startDynalite();
    const { tableName } = await newCustomersTable(dynamo);
    repository = new ProjectsRepository(createDocumentClient(dynamo.client), tableName);
  });
  afterAll(() => dynamo.stop());

  it('admits exactly the cap when ten creates race', async () => {
    const projects = new Projects(repository, customers, () => new Date(), 3);
    const principal = { customerId: 'cus_race' };
    const outcomes = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => projects.create(principal, `p${i}`)),
    );
    const created = outcomes.filter((o) => o.status === 'fulfilled');
    const refused = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason] : []));
    expect(created).toHaveLength(3);
    expect(refused).toHaveLength(7);
    for (const error of refused) {
      expect(error).toBeInstanceOf(HttpError);
      expect((error as HttpError).status).toBe(400);
      expect((error as HttpError).code).toBe('too_many_projects');
    }
    expect(await repository.list('cus_race')).toHaveLength(3);
  });

  it('counts the projects an organization stored before the slots existed', async () => {
    const now = new Date('2026-12-07T12:00:00.000Z').toISOString();
    for (const id of ['proj_old1', 'proj_old2']) {
      await repository.create({
        projectId: id,
        customerId: 'cus_old',
        name: id,
        status: 'active',
        createdAt: now,
      });
    }
    const projects = new Projects(repository, customers, () => new Date(), 3);
    await projects.create({ customerId: 'cus_old' }, 'third');
    await expect(projects.create({ customerId: 'cus_old' }, 'fourth')).rejects.toMatchObject({
      status: 400,
      code: 'too_many_projects',
    });
    expect(await repository.list('cus_old')).toHaveLength(3);
  });
});
