/**
 * bench/dynamodb-call-cost: the CPU one DynamoDB item call costs the calling process, by client:
 * the SDK's document client (what most of Tierline uses), the low-level client (with and without
 * `cacheMiddleware`), and the lean document client of lambda/storage/lean-document-client.ts (the
 * metering on the request path). dynalite runs in a child process, so its own CPU is not counted.
 * Each client sends the same conditional-free UpdateItem (ADD a counter, UPDATED_NEW) 1,500 times,
 * 8 at a time, after 100 to warm up.
 *
 *   npx tsx bench/dynamodb-call-cost.ts
 */
import { fork } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { CreateTableCommand, DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { createLeanDocumentClient } from '../lambda/storage/lean-document-client';

const CALLS = Number(process.env.BENCH_CALLS ?? '1500');
const CONCURRENCY = 8;
const TableName = 'bench-calls';

async function main(): Promise<void> {
  const child = fork(path.join(__dirname, 'servers.ts'), ['dynamo'], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, NODE_NO_WARNINGS: '1' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ready = (await new Promise((resolve) => child.once('message', resolve))) as {
    baseUrl: string;
  };
  const settings = {
    endpoint: ready.baseUrl,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  };
  const client = new DynamoDBClient(settings);
  await client.send(
    new CreateTableCommand({
      TableName,
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  const doc = DynamoDBDocumentClient.from(client);
  const cached = new DynamoDBClient({ ...settings, cacheMiddleware: true });
  const lean = createLeanDocumentClient(new DynamoDBClient(settings));
  const documentInput = (i: number) => ({
    TableName,
    Key: { pk: `k${i % 16}` },
    UpdateExpression: 'ADD n :one',
    ExpressionAttributeValues: { ':one': 1 },
    ReturnValues: 'UPDATED_NEW' as const,
  });
  const lowLevelInput = (i: number) => ({
    TableName,
    Key: { pk: { S: `k${i % 16}` } },
    UpdateExpression: 'ADD n :one',
    ExpressionAttributeValues: { ':one': { N: '1' } },
    ReturnValues: 'UPDATED_NEW' as const,
  });
  const clients: [string, (i: number) => Promise<unknown>][] = [
    ['document client (lib-dynamodb)', (i) => doc.send(new UpdateCommand(documentInput(i)))],
    ['low-level client', (i) => client.send(new UpdateItemCommand(lowLevelInput(i)))],
    ['low-level, cacheMiddleware', (i) => cached.send(new UpdateItemCommand(lowLevelInput(i)))],
    ['lean document client', (i) => lean.send(new UpdateCommand(documentInput(i)))],
  ];
  console.log(
    `${os.cpus().length} cores, load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  console.log(
    `${CALLS} UpdateItem calls per client, ${CONCURRENCY} at a time, on dynalite in another process`,
  );
  // Two rounds, the second reported: the first warms every client's code paths alike.
  for (const round of [1, 2]) {
    for (const [name, send] of clients) {
      for (let i = 0; i < 100; i++) await send(i);
      const cpuBefore = process.cpuUsage();
      const started = performance.now();
      let next = 0;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < CALLS) await send(next++);
        }),
      );
      const cpu = process.cpuUsage(cpuBefore);
      const wallMs = performance.now() - started;
      if (round === 2) {
        console.log(
          `${name.padEnd(32)} ${((cpu.user + cpu.system) / CALLS).toFixed(0).padStart(5)} us CPU per call, ` +
            `${((wallMs / CALLS) * CONCURRENCY).toFixed(2)} ms per call (latency)`,
        );
      }
    }
  }
  child.kill();
  process.exit(0);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
