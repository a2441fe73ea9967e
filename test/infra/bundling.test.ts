import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import * as path from 'node:path';
import { App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { loadConfig } from '../../lib/config/load';
import { TierlineFunction } from '../../lib/constructs/tierline-function';

const ROOT = path.join(__dirname, '..', '..');
const cdkJsonContext: Record<string, unknown> = require(path.join(ROOT, 'cdk.json')).context;
const pinned: Record<string, string> = require(path.join(ROOT, 'package.json')).dependencies;

/** Bundles one real handler through TierlineFunction (esbuild, as `cdk synth` does) and returns its code. */
function bundle(handlerFile: string): string {
  const app = new App({ context: cdkJsonContext });
  const stack = new Stack(app, 'Bundling');
  const fn = new TierlineFunction(stack, 'Fn', {
    handlerFile,
    description: 'bundling test',
    config: loadConfig({ env: 'dev' }),
    logRetention: RetentionDays.ONE_DAY,
    removalPolicy: RemovalPolicy.DESTROY,
  });
  const assembly = app.synth();
  const code = (fn.function.node.defaultChild as CfnFunction).code as CfnFunction.CodeProperty;
  const hash = String(Stack.of(fn).resolve(code.s3Key)).replace(/\.zip$/, '');
  return readFileSync(path.join(assembly.directory, `asset.${hash}`, 'index.js'), 'utf8');
}

describe('function bundles', () => {
  // The events handler: small, and it talks to DynamoDB through the SDK's client and document
  // client.
  const code = bundle('fine-tuning-events.ts');

  it('carry the AWS SDK instead of taking the runtime copy', () => {
    const required = new Set([...code.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1] ?? ''));
    const outside = [...required].filter((name) => !name.startsWith('node:'));
    // The one left: the CRT signer of SigV4a (multi-Region access points), which the SDK loads only
    // for those, inside a try; it is not installed and never needed here.
    expect(outside).toEqual(['@aws-sdk/signature-v4-crt']);
  });

  it('carry the SDK version the code is tested against (package.json pins it)', () => {
    const version = pinned['@aws-sdk/client-dynamodb'] ?? '';
    expect(version).toMatch(/^\d+\.\d+\.\d+$/); // exact, not a range
    const installed = require(
      path.join(ROOT, 'node_modules', '@aws-sdk', 'client-dynamodb', 'package.json'),
    ).version;
    expect(installed).toBe(version);
    // The client names its version in its user agent: the bundled client is that version.
    expect(code).toContain(`"${version}"`);
  });

  it('stay small: minified and tree-shaken (the events handler well under 1 MB)', () => {
    expect(Buffer.byteLength(code)).toBeLessThan(1024 * 1024);
  });
});

describe('the bundles of the lean document client', () => {
  // The authorizer: the smallest function on the lean client (lambda/storage/lean-document-client.ts),
  // which is tested against the pinned SDK and so must run on it, not on the runtime's copy.
  const code = bundle('authorizer.ts');

  it('carry the pinned DynamoDB client and document client, nothing taken from the runtime', () => {
    for (const name of ['@aws-sdk/client-dynamodb', '@aws-sdk/lib-dynamodb']) {
      const version = pinned[name] ?? '';
      expect(version).toMatch(/^\d+\.\d+\.\d+$/);
      const installed = require(path.join(ROOT, 'node_modules', name, 'package.json')).version;
      expect(installed).toBe(version);
    }
    expect(code).toContain(`"${pinned['@aws-sdk/client-dynamodb']}"`);
    const required = new Set([...code.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1] ?? ''));
    // Node's own modules are the runtime's by design (a dependency may name them with or without `node:`).
    const builtins = new Set(builtinModules);
    const fromPackages = [...required].filter(
      (name) => !name.startsWith('node:') && !builtins.has(name),
    );
    expect(fromPackages).toEqual(['@aws-sdk/signature-v4-crt']);
  });

  it('stay small: the table-only functions build on awsStores, without the other AWS clients', () => {
    expect(Buffer.byteLength(code)).toBeLessThan(450 * 1024);
    expect(code).not.toContain('SendMessageBatch');
  });
});
