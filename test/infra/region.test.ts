import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { loadConfig } from '../../lib/config/load';

const ROOT = path.join(__dirname, '..', '..');
const ACCOUNT = '111122223333';
// The CLI passes cdk.json's context (feature flags) to the app.
const cdkJsonContext: Record<string, unknown> = require(path.join(ROOT, 'cdk.json')).context;

/** Runs `bin/app.ts` as the CDK CLI does (context and defaults in the environment); its templates by name. */
async function synthBin(context: Record<string, unknown>): Promise<Record<string, string>> {
  const outdir = mkdtempSync(path.join(tmpdir(), 'tierline-region-'));
  await promisify(execFile)(path.join(ROOT, 'node_modules', '.bin', 'tsx'), ['bin/app.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      CDK_OUTDIR: outdir,
      CDK_CONTEXT_JSON: JSON.stringify({
        ...cdkJsonContext,
        'aws:cdk:bundling-stacks': [],
        ...context,
      }),
      // What the CDK CLI sets when the machine has no region configured: its fallback, and some
      // account.
      CDK_DEFAULT_REGION: 'us-east-1',
      CDK_DEFAULT_ACCOUNT: ACCOUNT,
    },
  });
  return Object.fromEntries(
    readdirSync(outdir)
      .filter((f) => f.endsWith('.template.json'))
      .map((f) => [f, readFileSync(path.join(outdir, f), 'utf8')]),
  );
}

describe('the region of the templates', () => {
  it("is never the CLI's us-east-1 fallback nor its account: region-agnostic unless a region is named", async () => {
    const templates = await synthBin({ env: 'prod' });

    expect(Object.keys(templates).length).toBeGreaterThanOrEqual(3);
    for (const [file, body] of Object.entries(templates)) {
      expect({ file, region: body.includes('us-east-1') }).toEqual({ file, region: false });
      expect({ file, account: body.includes(ACCOUNT) }).toEqual({ file, account: false });
    }
    expect(templates['Tierline-prod-Api.template.json']).toMatch(/"Ref": ?"AWS::Region"/);
  }, 120_000);

  it('is the one named with -c region=, and still no account', async () => {
    const templates = await synthBin({ env: 'dev', region: 'eu-west-1' });

    const api = templates['Tierline-dev-Api.template.json'] ?? '';
    expect(api).toContain(':eu-west-1:');
    expect(api).not.toContain('us-east-1');
    expect(api).not.toContain(ACCOUNT);
  }, 120_000);

  it('refuses a region that is not one, and Availability Zones outside the region', () => {
    expect(() =>
      loadConfig({ env: 'dev', overrides: { environment: { region: 'Europe' } } }),
    ).toThrow(/environment\.region: must be an AWS region code/);
    expect(() =>
      loadConfig({
        env: 'prod',
        overrides: {
          environment: {
            region: 'eu-west-1',
            chatCompute: {
              kind: 'managed-instances',
              maxVCpuCount: 64,
              perExecutionEnvironmentMaxConcurrency: 64,
              memoryGiBPerVCpu: 2,
              availabilityZones: ['eu-west-1a', 'us-east-1b'],
            },
          },
        },
      }),
    ).toThrow(
      /environment\.chatCompute\.availabilityZones: every Availability Zone must be in the region eu-west-1/,
    );
  });
});

describe('reserved concurrency in the config', () => {
  it('leaves the 100 unreserved executions Lambda keeps, of the account quota the config states', () => {
    const reserve = (chat: number, accountConcurrency?: number) =>
      loadConfig({
        env: 'prod',
        overrides: {
          environment: {
            accountConcurrency,
            reservedConcurrency: { authorizer: 100, api: 200, chat },
          },
        },
      });

    expect(() => reserve(600)).not.toThrow();
    expect(() => reserve(601)).toThrow(
      /environment\.reservedConcurrency: reserves 901 concurrent executions, but Lambda keeps 100 of the account's 1000 unreserved/,
    );
    expect(() => reserve(2_000, 3_000)).not.toThrow();
  });

  it('does not count the chat function on Managed Instances (its capacity provider bounds it)', () => {
    expect(() =>
      loadConfig({
        env: 'prod',
        overrides: {
          environment: {
            reservedConcurrency: { authorizer: 100, api: 200, chat: 5_000 },
            chatCompute: {
              kind: 'managed-instances',
              maxVCpuCount: 64,
              perExecutionEnvironmentMaxConcurrency: 64,
              memoryGiBPerVCpu: 2,
            },
          },
        },
      }),
    ).not.toThrow();
  });
});
