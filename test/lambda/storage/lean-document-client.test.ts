import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  DynamoDBServiceException,
  ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { createDocumentClient } from '../../../lambda/customers/customers-repository';
import { isConditionFailure } from '../../../lambda/storage/conditional-writes';
import type { DocumentClient } from '../../../lambda/storage/document-client';
import {
  createLeanDocumentClient,
  type LeanDocumentClient,
} from '../../../lambda/storage/lean-document-client';
import { createKeyedTable, type LocalDynamo, startDynalite } from '../../support/dynalite';

/**
 * The lean document client against a real engine (dynalite): every item operation answers what the
 * SDK's document client answers, errors are the SDK's classes, and throttling / 5xx / lost
 * connections are retried.
 */
describe('the lean document client (dynalite)', () => {
  let dynamo: LocalDynamo;
  let sdk: DynamoDBDocumentClient;
  let lean: LeanDocumentClient;
  const TableName = 'lean';
  const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };

  beforeAll(async () => {
    dynamo = await startDynalite();
    sdk = createDocumentClient(dynamo.client);
    lean = createLeanDocumentClient(dynamo.client);
    await createKeyedTable(dynamo.client, TableName);
  });
  afterAll(() => dynamo.stop());

  const item = {
    pk: 'P',
    sk: 'a',
    count: 3,
    price: 0.25,
    name: 'Grüße 🚀',
    tags: new Set(['x', 'y']),
    nested: { list: [1, 'two', { three: true }], empty: null },
    gone: undefined,
  };

  it('puts, gets, updates, queries and deletes exactly as the SDK document client does', async () => {
    await lean.send(new PutCommand({ TableName, Item: item }));
    const viaLean = await lean.send(
      new GetCommand({ TableName, Key: { pk: 'P', sk: 'a' }, ConsistentRead: true }),
    );
    const viaSdk = await sdk.send(
      new GetCommand({ TableName, Key: { pk: 'P', sk: 'a' }, ConsistentRead: true }),
    );
    expect(viaLean.Item).toEqual(viaSdk.Item);
    const { gone: _gone, ...stored } = item;
    expect(viaLean.Item).toEqual(stored);

    const updated = await lean.send(
      new UpdateCommand({
        TableName,
        Key: { pk: 'P', sk: 'a' },
        UpdateExpression: 'ADD #c :one SET price = :p',
        ConditionExpression: '#c = :three',
        ExpressionAttributeNames: { '#c': 'count' },
        ExpressionAttributeValues: { ':one': 1, ':p': 0.5, ':three': 3 },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    expect(updated.Attributes).toEqual({ count: 4, price: 0.5 });
    expect(updated.$metadata.httpStatusCode).toBe(200);

    await sdk.send(new PutCommand({ TableName, Item: { pk: 'P', sk: 'b', n: 1 } }));
    await sdk.send(new PutCommand({ TableName, Item: { pk: 'P', sk: 'c', n: 2 } }));
    const query = {
      TableName,
      KeyConditionExpression: 'pk = :p',
      ExpressionAttributeValues: { ':p': 'P' },
      Limit: 2,
    };
    const page = await lean.send(new QueryCommand(query));
    const sdkPage = await sdk.send(new QueryCommand(query));
    expect(page.Items).toEqual(sdkPage.Items);
    expect(page.LastEvaluatedKey).toEqual({ pk: 'P', sk: 'b' });
    expect(page.Count).toBe(2);
    const rest = await lean.send(
      new QueryCommand({ ...query, ExclusiveStartKey: page.LastEvaluatedKey }),
    );
    expect(rest.Items).toEqual([{ pk: 'P', sk: 'c', n: 2 }]);

    const deleted = await lean.send(
      new DeleteCommand({ TableName, Key: { pk: 'P', sk: 'b' }, ReturnValues: 'ALL_OLD' }),
    );
    expect(deleted.Attributes).toEqual({ pk: 'P', sk: 'b', n: 1 });
    expect(
      (await lean.send(new GetCommand({ TableName, Key: { pk: 'P', sk: 'b' } }))).Item,
    ).toBeUndefined();
  });

  it('answers edge values, projections, counts and pages, and refuses what it cannot marshal, as the SDK does', async () => {
    const edge = {
      pk: 'E',
      sk: '1',
      empty: '',
      bytes: new Uint8Array([0, 255, 7]),
      nums: new Set([1, 2.5]),
      deep: { a: { b: { c: [undefined, { d: undefined, e: 0 }] } } },
    };
    const outcome = (doc: DocumentClient, command: unknown) =>
      (doc.send as (command: unknown) => Promise<Record<string, unknown>>)(command).then(
        ({ $metadata: _m, ...output }) => output,
        (error: Error) => ({ error: error.name, message: error.message }),
      );
    for (const doc of [lean, sdk]) {
      await doc.send(new PutCommand({ TableName, Item: edge }));
      await doc.send(new PutCommand({ TableName, Item: { pk: 'E', sk: '2', n: 2 } }));
      await doc.send(new PutCommand({ TableName, Item: { pk: 'E', sk: '3', n: 3 } }));
    }
    const commands = [
      new GetCommand({ TableName, Key: { pk: 'E', sk: '1' }, ConsistentRead: true }),
      new GetCommand({
        TableName,
        Key: { pk: 'E', sk: '1' },
        ProjectionExpression: '#d.a.b, bytes',
        ExpressionAttributeNames: { '#d': 'deep' },
      }),
      new QueryCommand({
        TableName,
        KeyConditionExpression: 'pk = :p',
        ExpressionAttributeValues: { ':p': 'E' },
        Select: 'COUNT',
      }),
      new QueryCommand({
        TableName,
        KeyConditionExpression: 'pk = :p AND sk > :s',
        ExpressionAttributeValues: { ':p': 'E', ':s': '1' },
        Limit: 1,
        ExclusiveStartKey: { pk: 'E', sk: '1' },
      }),
      new UpdateCommand({
        TableName,
        Key: { pk: 'E', sk: '2' },
        UpdateExpression: 'SET n = :n',
        ExpressionAttributeValues: { ':n': 4 },
        ReturnValues: 'ALL_NEW',
      }),
      new PutCommand({ TableName, Item: { pk: 'E', sk: '9', s: new Set() } }),
      new PutCommand({ TableName, Item: { pk: 'E', sk: '9', n: 2 ** 60 } }),
      new GetCommand({ TableName, Key: { pk: 'E', sk: 'missing' } }),
    ];
    for (const command of commands) {
      const viaLean = await outcome(lean, command);
      const viaSdk = await outcome(sdk, command);
      expect(viaLean).toEqual(viaSdk);
    }
  });

  it('takes the legacy parameters (Expected, AttributeUpdates, KeyConditions, QueryFilter) as the SDK does', async () => {
    const commands = [
      new PutCommand({
        TableName,
        Item: { pk: 'L', sk: '1', n: 1 },
        Expected: { pk: { Exists: false } },
      }),
      new UpdateCommand({
        TableName,
        Key: { pk: 'L', sk: '1' },
        AttributeUpdates: { n: { Action: 'ADD', Value: 2 } },
        Expected: { n: { Value: 1 } },
        ReturnValues: 'ALL_NEW',
      }),
      new QueryCommand({
        TableName,
        KeyConditions: { pk: { ComparisonOperator: 'EQ', AttributeValueList: ['L'] } },
        QueryFilter: { n: { ComparisonOperator: 'GT', AttributeValueList: [0] } },
      }),
      new DeleteCommand({ TableName, Key: { pk: 'L', sk: '1' }, Expected: { n: { Value: 3 } } }),
    ];
    for (const doc of [lean, sdk]) {
      const answers: unknown[] = [];
      for (const command of commands) {
        const { $metadata: _m, ...output } = await (
          doc.send as (c: unknown) => Promise<Record<string, unknown>>
        )(command);
        answers.push(output);
      }
      expect(answers).toEqual([
        {},
        { Attributes: { pk: 'L', sk: '1', n: 3 } },
        { Items: [{ pk: 'L', sk: '1', n: 3 }], Count: 1, ScannedCount: 1 },
        {},
      ]);
    }
  });

  it('reads a 300 KB item of multi-byte characters intact (it arrives in many chunks)', async () => {
    const text = 'ü🚀'.repeat(50_000);
    await lean.send(new PutCommand({ TableName, Item: { pk: 'BIG', sk: '1', text } }));
    const { Item } = await lean.send(new GetCommand({ TableName, Key: { pk: 'BIG', sk: '1' } }));
    expect(Item?.text).toBe(text);
  });

  it('throws the SDK exception classes', async () => {
    await sdk.send(new PutCommand({ TableName, Item: { pk: 'C', sk: '1', v: 1 } }));
    const failed = await lean
      .send(
        new PutCommand({
          TableName,
          Item: { pk: 'C', sk: '1', v: 2 },
          ConditionExpression: 'attribute_not_exists(pk)',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      )
      .catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(ConditionalCheckFailedException);
    expect(isConditionFailure(failed)).toBe(true);
    expect((failed as ConditionalCheckFailedException).$metadata.httpStatusCode).toBe(400);

    const missing = await lean
      .send(new GetCommand({ TableName: 'no-such-table', Key: { pk: 'x', sk: 'y' } }))
      .catch((error: unknown) => error);
    expect(missing).toBeInstanceOf(ResourceNotFoundException);

    const invalid = await lean
      .send(
        new UpdateCommand({
          TableName,
          Key: { pk: 'C', sk: '1' },
          UpdateExpression: 'SET = nonsense',
        }),
      )
      .catch((error: unknown) => error);
    expect(invalid).toBeInstanceOf(DynamoDBServiceException);
    expect((invalid as Error).name).toBe('ValidationException');
  });

  it('sends every other command, and calls with options, through the SDK (its middleware sees them)', async () => {
    const before = dynamo.calls();
    await lean.send(
      new BatchWriteCommand({
        RequestItems: { [TableName]: [{ PutRequest: { Item: { pk: 'B', sk: '1' } } }] },
      }),
    );
    await lean.send(new GetCommand({ TableName, Key: { pk: 'B', sk: '1' } }), {});
    await lean.send(new GetCommand({ TableName, Key: { pk: 'B', sk: '1' } }));
    // The batch and the call with options went through the client's middleware; the plain GetItem
    // did not.
    expect(dynamo.calls() - before).toBe(2);
  });

  describe('retries, behind a proxy that fails the first attempts', () => {
    let proxy: Server;
    let failures: (
      | 'throttle'
      | 'http500'
      | 'reset'
      | 'validation'
      | 'condition'
      | 'html502'
      | 'truncated'
    )[] = [];
    let attempts = 0;
    const seenHeaders: import('node:http').IncomingHttpHeaders[] = [];

    beforeAll(async () => {
      const target = new URL(dynamo.endpoint);
      proxy = createServer((req, res) => {
        attempts += 1;
        seenHeaders.push(req.headers);
        const failure = failures.shift();
        const chunks: Buffer[] = [];
        req.on('data', (chunk: Buffer) => chunks.push(chunk));
        req.on('end', () => {
          if (failure === 'reset') {
            req.socket.destroy();
            return;
          }
          if (failure === 'truncated') {
            // A 200 cut short: the connection drops before the body's announced length.
            res.writeHead(200, {
              'content-type': 'application/x-amz-json-1.0',
              'content-length': '100',
            });
            res.write('{"Item":{"pk":');
            setTimeout(() => req.socket.destroy(), 10);
            return;
          }
          if (failure === 'html502') {
            // A load balancer's or proxy's own answer: not DynamoDB's JSON.
            res.writeHead(502, { 'content-type': 'text/html' });
            res.end('<html><body><h1>502 Bad Gateway</h1></body></html>');
            return;
          }
          if (failure === 'condition') {
            // DynamoDB's answer to ReturnValuesOnConditionCheckFailure (dynalite predates it).
            res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0' });
            res.end(
              JSON.stringify({
                __type: 'com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException',
                message: 'The conditional request failed',
                Item: { pk: { S: 'C' }, v: { N: '1' } },
              }),
            );
            return;
          }
          if (failure) {
            const [status, type] = {
              throttle: [400, 'ProvisionedThroughputExceededException'],
              http500: [500, 'InternalServerError'],
              validation: [400, 'ValidationException'],
            }[failure] as [number, string];
            res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
            res.end(
              JSON.stringify({
                __type: `com.amazonaws.dynamodb.v20120810#${type}`,
                message: failure,
              }),
            );
            return;
          }
          const forward = httpRequest(
            {
              host: target.hostname,
              port: target.port,
              method: req.method,
              path: req.url,
              headers: req.headers,
            },
            (answer) => {
              res.writeHead(answer.statusCode ?? 500, answer.headers);
              answer.pipe(res);
            },
          );
          forward.end(Buffer.concat(chunks));
        });
      });
      await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    });
    afterAll(() => new Promise<void>((resolve) => proxy.close(() => resolve())));

    const clientBehindProxy = (maxAttempts: number) =>
      new DynamoDBClient({
        endpoint: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
        region: 'us-east-1',
        credentials,
        maxAttempts,
      });
    const leanBehindProxy = (maxAttempts: number) =>
      createLeanDocumentClient(clientBehindProxy(maxAttempts));

    it('retries throttling, a 500 and a dropped connection, then succeeds', async () => {
      failures = ['throttle', 'http500', 'reset'];
      attempts = 0;
      const { Item } = await leanBehindProxy(4).send(
        new GetCommand({ TableName, Key: { pk: 'C', sk: '1' } }),
      );
      expect(Item).toEqual({ pk: 'C', sk: '1', v: 1 });
      expect(attempts).toBe(4);
    });

    it("retries a proxy's HTML 502 as the SDK does, and gives up with a service error (status, fault) on it", async () => {
      const sdkBehindProxy = createDocumentClient(clientBehindProxy(2));
      await sdk.send(new PutCommand({ TableName, Item: { pk: 'C', sk: '1', v: 1 } }));
      failures = ['html502'];
      attempts = 0;
      expect(
        (await sdkBehindProxy.send(new GetCommand({ TableName, Key: { pk: 'C', sk: '1' } }))).Item,
      ).toEqual({
        pk: 'C',
        sk: '1',
        v: 1,
      });
      expect(attempts).toBe(2);

      failures = ['html502'];
      attempts = 0;
      const { Item } = await leanBehindProxy(2).send(
        new GetCommand({ TableName, Key: { pk: 'C', sk: '1' } }),
      );
      expect(Item).toEqual({ pk: 'C', sk: '1', v: 1 });
      expect(attempts).toBe(2);

      failures = ['html502', 'html502'];
      attempts = 0;
      const spent = await leanBehindProxy(2)
        .send(new GetCommand({ TableName, Key: { pk: 'C', sk: '1' } }))
        .catch((error: unknown) => error);
      expect(spent).toBeInstanceOf(DynamoDBServiceException);
      expect(spent).toMatchObject({ $fault: 'server', $metadata: { httpStatusCode: 502 } });
      expect(attempts).toBe(2);
    });

    it('retries an answer cut short mid-body, as the SDK does', async () => {
      const sdkBehindProxy = createDocumentClient(clientBehindProxy(2));
      await sdk.send(new PutCommand({ TableName, Item: { pk: 'C', sk: '1', v: 1 } }));
      for (const doc of [sdkBehindProxy, leanBehindProxy(2)]) {
        failures = ['truncated'];
        attempts = 0;
        expect(
          (await doc.send(new GetCommand({ TableName, Key: { pk: 'C', sk: '1' } }))).Item,
        ).toEqual({
          pk: 'C',
          sk: '1',
          v: 1,
        });
        expect(attempts).toBe(2);
      }
    });

    it('signs with temporary credentials (x-amz-security-token) and picks up refreshed ones', async () => {
      let issued = 0;
      const client = createLeanDocumentClient(
        new DynamoDBClient({
          endpoint: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
          region: 'us-east-1',
          // Expiring within the SDK's refresh window: every call asks the provider again.
          credentials: async () => {
            issued += 1;
            return {
              accessKeyId: `ASIA${issued}`,
              secretAccessKey: 'secret',
              sessionToken: `token-${issued}`,
              expiration: new Date(Date.now() + 60_000),
            };
          },
        }),
      );
      failures = [];
      seenHeaders.length = 0;
      await client.send(new GetCommand({ TableName, Key: { pk: 'C', sk: '1' } }));
      await client.send(new GetCommand({ TableName, Key: { pk: 'C', sk: '1' } }));
      // Each call signed with the credentials current then: its key id and token issued together,
      // renewed.
      const used = seenHeaders.map((h) => {
        const token = String(h['x-amz-security-token']);
        expect(h.authorization).toContain(`Credential=ASIA${token.slice('token-'.length)}/`);
        expect(h.authorization).toMatch(/SignedHeaders=[^,]*x-amz-security-token/);
        return token;
      });
      expect(used).toHaveLength(2);
      expect(used[0]).not.toBe(used[1]);
    });

    it('passes on the item of a failed condition, unmarshalled, without retrying', async () => {
      failures = ['condition'];
      attempts = 0;
      const failed = await leanBehindProxy(4)
        .send(
          new PutCommand({
            TableName,
            Item: { pk: 'C', sk: '1' },
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        )
        .catch((error: unknown) => error);
      expect(failed).toBeInstanceOf(ConditionalCheckFailedException);
      expect((failed as ConditionalCheckFailedException).Item).toEqual({ pk: 'C', v: 1 });
      expect((failed as Error).message).toBe('The conditional request failed');
      expect(attempts).toBe(1);
    });

    it('gives up after maxAttempts, and never retries a client error', async () => {
      failures = ['http500', 'http500', 'http500'];
      attempts = 0;
      const spent = await leanBehindProxy(2)
        .send(new GetCommand({ TableName, Key: { pk: 'C', sk: '1' } }))
        .catch((error: unknown) => error);
      expect((spent as Error).name).toBe('InternalServerError');
      expect(attempts).toBe(2);

      failures = ['validation'];
      attempts = 0;
      const invalid = await leanBehindProxy(4)
        .send(new GetCommand({ TableName, Key: { pk: 'C', sk: '1' } }))
        .catch((error: unknown) => error);
      expect((invalid as Error).name).toBe('ValidationException');
      expect(attempts).toBe(1);
    });
  });
});
