import * as path from 'node:path';
import { concernCycles, type ImportEdge, lambdaImports, violationOf } from './import-direction';

const repoRoot = path.join(__dirname, '..', '..');

describe('imports inside lambda/ run one way: handlers -> http -> composition -> concerns -> openai', () => {
  const edges = lambdaImports(repoRoot);

  it('reads the imports of the runtime', () => {
    // Guards against a reader that silently finds nothing (and so passes everything).
    expect(edges.length).toBeGreaterThan(50);
    expect(edges).toContainEqual({
      from: 'lambda/handlers/chat.ts',
      to: 'lambda/http/lambda-app.ts',
    });
  });

  it('has no import against the direction', () => {
    const violations = edges.map(violationOf).filter((v) => v !== undefined);
    expect(violations).toEqual([]);
  });

  it('has no two concern folders that import each other', () => {
    expect(concernCycles(edges)).toEqual([]);
  });
});

describe('the direction rule itself', () => {
  const edge = (from: string, to: string): ImportEdge => ({ from, to });

  it.each([
    ['lambda/handlers/api.ts', 'lambda/http/lambda-app.ts'],
    ['lambda/handlers/api.ts', 'lambda/metering/ledger.ts'],
    ['lambda/http/routes/usage.ts', 'lambda/metering/spend.ts'],
    ['lambda/http/routes/usage.ts', 'lambda/http/types.ts'],
    ['lambda/metering/spend.ts', 'lambda/customers/customers-repository.ts'],
    ['lambda/inference/backends/sagemaker-backend.ts', 'lambda/openai/openai-types.ts'],
    ['lambda/openai/errors.ts', 'lambda/openai/openai-types.ts'],
    ['lambda/metering/pricing.ts', 'lib/config/schema.ts'],
    ['lambda/http/lambda-app.ts', 'lambda/config.ts'],
    ['lambda/http/lambda-app.ts', 'lambda/composition/api-services.ts'],
    ['lambda/handlers/batch-worker.ts', 'lambda/composition/files-and-batches.ts'],
    ['lambda/composition/metering.ts', 'lambda/metering/request-metering.ts'],
    ['lambda/composition/aws-engines.ts', 'lambda/storage/lean-document-client.ts'],
  ])('allows %s -> %s', (from, to) => {
    expect(violationOf(edge(from, to))).toBeUndefined();
  });

  it.each([
    ['lambda/metering/ledger.ts', 'lambda/http/app.ts', /must not import lambda\/http/],
    ['lambda/customers/plans.ts', 'lambda/handlers/api.ts', /must not import lambda\/handlers/],
    ['lambda/http/app.ts', 'lambda/handlers/chat.ts', /must not import lambda\/handlers/],
    ['lambda/openai/errors.ts', 'lambda/metering/pricing.ts', /ground floor/],
    ['lambda/openai/errors.ts', 'lambda/config.ts', /ground floor/],
    ['lambda/config.ts', 'lambda/metering/pricing.ts', /must not import lambda\/metering/],
    ['lambda/http/app.ts', 'local/local-mode.ts', /only lib\/config\//],
    ['lambda/inference/models.ts', 'lib/constructs/api/tierline-api.ts', /only lib\/config\//],
    ['lambda/adapters/ledger.ts', 'lambda/openai/errors.ts', /not a known layer/],
    ['lambda/composition/api-services.ts', 'lambda/http/app.ts', /must not import lambda\/http/],
    [
      'lambda/metering/ledger.ts',
      'lambda/composition/engines.ts',
      /must not import lambda\/composition/,
    ],
  ])('refuses %s -> %s, naming the file and the import', (from, to, why) => {
    const violation = violationOf(edge(from, to));
    expect(violation).toMatch(why);
    expect(violation).toContain(from);
  });

  it('finds concerns that import each other, directly or through another', () => {
    expect(
      concernCycles([
        edge('lambda/metering/a.ts', 'lambda/customers/b.ts'),
        edge('lambda/customers/b.ts', 'lambda/metering/c.ts'),
      ]),
    ).toEqual(['lambda/customers/ and lambda/metering/ import each other']);
    expect(
      concernCycles([
        edge('lambda/batches/a.ts', 'lambda/metering/b.ts'),
        edge('lambda/metering/b.ts', 'lambda/files/c.ts'),
        edge('lambda/files/c.ts', 'lambda/batches/d.ts'),
      ]),
    ).not.toEqual([]);
    expect(concernCycles([edge('lambda/metering/a.ts', 'lambda/customers/b.ts')])).toEqual([]);
  });
});
