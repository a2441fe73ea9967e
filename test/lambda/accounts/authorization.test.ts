import { authorizeRoute, routeGroupOf } from '../../../lambda/accounts/authorization';
import type { Principal } from '../../../lambda/customers/authenticate';
import type { KeyPermissions } from '../../../lambda/customers/key-permissions';
import { tierlineOpenApiDocument } from '../../../lambda/http/openapi/document';
import { HttpError } from '../../../lambda/openai/errors';
import { loadConfig } from '../../../lib/config/load';

const base = { customerId: 'cus_1', tier: 'developer', usageIdentifierKey: 'k', projectId: 'p' };
const projectKey = (permissions: KeyPermissions): Principal => ({
  ...base,
  tier: 'developer',
  kind: 'project_key',
  permissions,
});
const adminKey: Principal = { ...base, tier: 'developer', kind: 'admin_key' };
const session = (role: 'owner' | 'member'): Principal => ({
  ...base,
  tier: 'developer',
  kind: 'session',
  userId: 'u',
  role,
});

/** The status and error of a decision: 200 when allowed. */
function decide(principal: Principal, method: string, path: string) {
  try {
    authorizeRoute(principal, method, path);
    return { status: 200 };
  } catch (error) {
    if (!(error instanceof HttpError)) throw error;
    return { status: error.status, body: error.toBody() };
  }
}

describe('authorizeRoute: which principal may call which route group', () => {
  it('puts every documented route in a group, so none is open by omission', () => {
    const paths = Object.keys(
      tierlineOpenApiDocument(loadConfig({ env: 'dev' })).paths as object,
    ).filter((path) => path.startsWith('/v1/') && path !== '/v1/plans');
    expect(paths.length).toBeGreaterThan(20);
    expect(paths.filter((path) => routeGroupOf(path) === undefined)).toEqual([]);
    expect(routeGroupOf('/openai/v1/chat/completions')).toBe('chat');
    expect(routeGroupOf('/v1/organization/projects/proj_1/api_keys')).toBe('administration');
  });

  it('refuses a project key key management and the spend limit, saying what to use instead', () => {
    for (const [method, path] of [
      ['GET', '/v1/keys'],
      ['POST', '/v1/keys'],
      ['DELETE', '/v1/keys/key_1'],
      ['GET', '/v1/spend_limit'],
      ['PUT', '/v1/spend_limit'],
      ['GET', '/v1/organization/projects'],
      ['POST', '/openai/v1/organization/admin_api_keys'],
    ] as const) {
      const decision = decide(projectKey('all'), method, path);
      expect(decision).toMatchObject({
        status: 403,
        body: { error: { type: 'permission_error' } },
      });
      expect(decision.body?.error.message).toMatch(/project API key.*admin key/);
    }
    expect(decide(projectKey('all'), 'GET', '/v1/usage').status).toBe(200);
    expect(decide(projectKey('all'), 'GET', '/v1/me').status).toBe(200);
  });

  it('refuses an admin key every inference route and lets it manage', () => {
    for (const [method, path] of [
      ['POST', '/v1/chat/completions'],
      ['POST', '/v1/responses'],
      ['GET', '/v1/models'],
      ['POST', '/v1/files'],
      ['GET', '/v1/files'],
      ['POST', '/v1/uploads'],
      ['POST', '/v1/batches'],
      ['POST', '/v1/fine_tuning/jobs'],
      ['POST', '/v1/fine_tunings'],
      ['POST', '/v1/audio/transcriptions'],
    ] as const) {
      const decision = decide(adminKey, method, path);
      expect(decision).toMatchObject({
        status: 403,
        body: { error: { type: 'permission_error' } },
      });
      expect(decision.body?.error.message).toMatch(/Admin keys .* project API key/);
    }
    for (const [method, path] of [
      ['POST', '/v1/keys'],
      ['PUT', '/v1/spend_limit'],
      ['POST', '/v1/organization/projects'],
      ['GET', '/v1/organization/audit_logs'],
    ] as const) {
      expect(decide(adminKey, method, path).status).toBe(200);
    }
  });

  it('holds a read-only key to reading and a restricted key to its groups', () => {
    expect(decide(projectKey('read_only'), 'GET', '/v1/files').status).toBe(200);
    expect(decide(projectKey('read_only'), 'POST', '/v1/files').status).toBe(403);
    expect(decide(projectKey('read_only'), 'POST', '/v1/chat/completions').status).toBe(403);
    const chatOnly = projectKey({ restricted: { chat: 'write', models: 'read' } });
    expect(decide(chatOnly, 'POST', '/v1/chat/completions').status).toBe(200);
    expect(decide(chatOnly, 'GET', '/v1/models').status).toBe(200);
    expect(decide(chatOnly, 'DELETE', '/v1/models/ft:x').status).toBe(403);
    const files = decide(chatOnly, 'POST', '/v1/files');
    expect(files.status).toBe(403);
    expect(files.body?.error.message).toMatch(/no access to files/);
    expect(decide(chatOnly, 'GET', '/v1/batches').status).toBe(403);
  });

  it('lets a session run inference; owners manage, members only read', () => {
    for (const role of ['owner', 'member'] as const) {
      expect(decide(session(role), 'POST', '/v1/chat/completions').status).toBe(200);
      expect(decide(session(role), 'GET', '/v1/keys').status).toBe(200);
      expect(decide(session(role), 'GET', '/v1/spend_limit').status).toBe(200);
      expect(decide(session(role), 'GET', '/v1/organization/projects').status).toBe(200);
    }
    expect(decide(session('owner'), 'POST', '/v1/keys').status).toBe(200);
    expect(decide(session('owner'), 'PUT', '/v1/spend_limit').status).toBe(200);
    expect(decide(session('member'), 'POST', '/v1/keys').status).toBe(403);
    expect(decide(session('member'), 'DELETE', '/v1/keys/key_1').status).toBe(403);
    expect(decide(session('member'), 'PUT', '/v1/spend_limit').status).toBe(403);
    expect(decide(session('member'), 'GET', '/v1/organization/admin_api_keys').status).toBe(403);
    expect(decide(session('member'), 'GET', '/v1/organization/audit_logs').status).toBe(403);
  });

  it('lets owners and admin keys manage spend limits and alerts, members read, project keys none', () => {
    const paths = [
      '/v1/organization/spend_limit',
      '/v1/organization/spend_alerts',
      '/v1/organization/spend_alerts/spend_alert_1',
      '/v1/organization/projects/proj_1/spend_alerts',
      '/v1/organization/projects/proj_1/spend_alerts/spend_alert_1',
    ];
    for (const path of paths) {
      for (const method of ['GET', 'POST', 'DELETE']) {
        expect(decide(session('owner'), method, path).status).toBe(200);
        expect(decide(adminKey, method, path).status).toBe(200);
        expect(decide(session('member'), method, path).status).toBe(method === 'GET' ? 200 : 403);
        expect(decide(projectKey('all'), method, path).status).toBe(403);
      }
    }
  });

  it('lets owners, members and admin keys read usage and costs, never a project key', () => {
    const reads = [
      '/v1/organization/usage/completions',
      '/v1/organization/usage/audio_transcriptions',
      '/v1/organization/costs',
    ];
    for (const path of reads) {
      for (const role of ['owner', 'member'] as const)
        expect(decide(session(role), 'GET', path).status).toBe(200);
      expect(decide(adminKey, 'GET', path).status).toBe(200);
      expect(decide(session('member'), 'POST', path).status).toBe(403);
      expect(decide(projectKey('all'), 'GET', path).status).toBe(403);
    }
  });

  it('refuses a path in no group to every principal', () => {
    expect(decide(session('owner'), 'GET', '/v1/secret').status).toBe(403);
    expect(decide(adminKey, 'GET', '/v1/secret').status).toBe(403);
  });
});
