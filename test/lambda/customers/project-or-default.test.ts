import { billedProjectOf, DEFAULT_PROJECT } from '../../../lambda/billing/usage-lines';
import { keyGrants } from '../../../lambda/customers/authenticate';
import { defaultProjectId, projectOrDefault } from '../../../lambda/customers/key-permissions';

/**
 * One answer to "which project is this of": a key, a ledger record and a stored response written
 * before projects were recorded all belong to the organization's default project.
 */
describe('projectOrDefault', () => {
  const customerId = 'cus_old';

  it("keeps a thing's own project", () => {
    expect(projectOrDefault(customerId, 'proj_named')).toBe('proj_named');
  });

  it.each([undefined, ''])('gives the default project when none is stored (%p)', (stored) => {
    expect(projectOrDefault(customerId, stored)).toBe(defaultProjectId(customerId));
    expect(defaultProjectId(customerId)).toMatch(/^proj_[0-9A-Za-z]{24}$/);
  });

  it('is what a key without a project is granted', () => {
    expect(keyGrants({ customerId, kind: 'project_key' }).projectId).toBe(
      projectOrDefault(customerId, undefined),
    );
    expect(keyGrants({ customerId, kind: 'admin_key', projectId: 'proj_x' }).projectId).toBe(
      'proj_x',
    );
  });

  it('bills an old record and one of the default project under the same line label', () => {
    expect(billedProjectOf({ customerId })).toBe(DEFAULT_PROJECT);
    expect(billedProjectOf({ customerId, projectId: defaultProjectId(customerId) })).toBe(
      DEFAULT_PROJECT,
    );
    expect(billedProjectOf({ customerId, projectId: 'proj_named' })).toBe('proj_named');
  });
});
