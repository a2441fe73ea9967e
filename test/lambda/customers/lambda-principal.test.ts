import { Hono } from 'hono';
import { principalFromAuthorizer } from '../../../lambda/customers/lambda-principal';
import { proxyEvent } from '../../support/events';

/**
 * The authorizer's context as API Gateway hands it to the API function (every value a string):
 * a project's spend-alert mark and spend limit come through, so its keys' requests track the
 * project's month.
 */
describe('the principal read from the authorizer context', () => {
  async function principalOf(authorizer: Record<string, string>) {
    const app = new Hono();
    app.get('*', async (c) => c.json(await principalFromAuthorizer(c)));
    const event = proxyEvent({ path: '/v1/me', authorizer });
    const response = await app.fetch(new Request('https://api.test/v1/me'), {
      event,
      lambdaContext: {},
    });
    return (await response.json()) as Record<string, unknown>;
  }
  const context = {
    customerId: 'cus_ctx',
    tier: 'developer',
    kind: 'project_key',
    projectId: 'proj_ctx',
  };

  it("carries a project's spend-alert mark (a boolean sent as 'true') and its limit", async () => {
    const principal = await principalOf({
      ...context,
      projectSpendAlerts: 'true',
      projectSpendLimitMicroUsd: '5000',
    });
    expect(principal).toMatchObject({ projectSpendAlerts: true, projectSpendLimitMicroUsd: 5000 });
  });

  it('leaves the mark out when the context has none, or anything but true', async () => {
    expect(await principalOf(context)).not.toHaveProperty('projectSpendAlerts');
    expect(await principalOf({ ...context, projectSpendAlerts: 'false' })).not.toHaveProperty(
      'projectSpendAlerts',
    );
  });
});
