import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { awsClientOptions, CLIENT_TIMEOUTS } from '../../../lambda/storage/aws-clients';
import { createLeanDocumentClient } from '../../../lambda/storage/lean-document-client';

const LAMBDA_DIR = path.join(__dirname, '..', '..', '..', 'lambda');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const file = path.join(dir, name);
    if (statSync(file).isDirectory()) return sourceFiles(file);
    return file.endsWith('.ts') ? [file] : [];
  });
}

/** A server that takes connections and requests and never answers: an AWS endpoint that hangs. */
async function silentServer(): Promise<{ server: Server; endpoint: string }> {
  const server = createServer(() => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function hangingClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({
    ...awsClientOptions(),
    endpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
}

describe('AWS SDK clients of the runtime', () => {
  it('are all created with the shared timeouts (lambda/storage/aws-clients.ts)', () => {
    const constructions = sourceFiles(LAMBDA_DIR).flatMap((file) => {
      const text = readFileSync(file, 'utf8');
      // A document client wraps an SDK client it is given (that one is counted where it is made).
      const sdkClients = [...text.matchAll(/new (\w+Client)\(/g)].filter(
        (m) => !m[1]?.endsWith('DocumentClient'),
      );
      return sdkClients.map((m) => ({
        where: `${path.relative(LAMBDA_DIR, file)}: new ${m[1]}(`,
        // The arguments: up to the construction's closing parenthesis, or a few lines of an options
        // object.
        args: text.slice((m.index ?? 0) + m[0].length, (m.index ?? 0) + m[0].length + 120),
      }));
    });
    // Guards against a scan that finds nothing and so passes everything. The composition root
    // creates each client once (lambda/composition/), so the count is small; the root's clients
    // are named.
    expect(constructions.length).toBeGreaterThan(8);
    expect(constructions.map((c) => c.where)).toEqual(
      expect.arrayContaining([
        'composition/aws-stores.ts: new DynamoDBClient(',
        'composition/aws-engines.ts: new SQSClient(',
        'composition/aws-engines.ts: new SageMakerClient(',
        'composition/aws-engines.ts: new EventBridgeClient(',
        'composition/aws-engines.ts: new SFNClient(',
        'handlers/fine-tuning-workflow.ts: new S3Client(',
        'composition/aws-mail.ts: new SESv2Client(',
      ]),
    );
    const without = constructions
      .filter((c) => !/awsClientOptions\(/.test(c.args))
      .map((c) => c.where);
    expect(without).toEqual([]);
  });

  it('give up connecting after 3 s and waiting for an answer after seconds, as errors', () => {
    for (const kind of Object.keys(CLIENT_TIMEOUTS) as (keyof typeof CLIENT_TIMEOUTS)[]) {
      const { requestHandler } = awsClientOptions(kind);
      expect(requestHandler.connectionTimeout).toBe(3_000);
      expect(requestHandler.requestTimeout).toBeGreaterThan(0);
      // Without it, smithy's NodeHttpHandler (>= 4.4) only logs a warning when the request timeout
      // passes.
      expect(requestHandler.throwOnRequestTimeout).toBe(true);
    }
    // InvokeEndpoint's container answers within 60 s: the runtime client waits a little longer,
    // never less.
    expect(CLIENT_TIMEOUTS.sagemakerRuntime.requestTimeout).toBeGreaterThan(60_000);
  });

  describe('against an endpoint that never answers', () => {
    let silent: { server: Server; endpoint: string };
    beforeAll(async () => {
      silent = await silentServer();
    });
    afterAll(() => {
      silent.server.closeAllConnections();
      silent.server.close();
    });

    it('fail with a TimeoutError after the request timeout, not when the function times out', async () => {
      const started = Date.now();
      const call = hangingClient(silent.endpoint).send(
        new GetItemCommand({ TableName: 't', Key: { pk: { S: 'k' } } }),
      );

      await expect(call).rejects.toMatchObject({ name: 'TimeoutError' });
      const elapsed = Date.now() - started;
      // The request timeout's, not the connection timeout's (3 s): a load only makes it later.
      // Not the function's: without a request timeout the call would outlast this test's 15 s.
      expect(elapsed).toBeGreaterThanOrEqual(CLIENT_TIMEOUTS.api.requestTimeout - 100);
    }, 15_000);

    it('time out the lean document client too (it sends through the client request handler)', async () => {
      const lean = createLeanDocumentClient(hangingClient(silent.endpoint));

      await expect(
        lean.send(new GetCommand({ TableName: 't', Key: { pk: 'k' } })),
      ).rejects.toMatchObject({
        name: 'TimeoutError',
      });
    }, 15_000);
  });
});
