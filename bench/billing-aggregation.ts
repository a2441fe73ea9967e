/**
 * bench/billing-aggregation: what the billing sender's hourly lines cost to build from the ledger
 * (issue 23, deliverable 7).
 *
 * A day's ledger of N records (default 1,000,000) for C organizations (default 10), all Developer,
 * over 4 models, 2 projects and every kind, is written into dynalite (BatchWriteItem, 25 a call,
 * with the ledger's keys and its customer-day index entries); then ONE run of the usage sender,
 * with the embedded provider, settles the day's 24 hours for every organization. Printed: the
 * write time, the sender's time, its DynamoDB calls, and the Query pages and items read per ledger
 * record (items read is what DynamoDB charges read units on: 1 MB a page, 4 KB a unit).
 *
 *   npm run bench:billing                  # N=1000000 C=10
 *   N=100000 C=10 npx tsx bench/billing-aggregation.ts
 */
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import dynalite from 'dynalite';
import { BillingAccounts } from '../lambda/billing/billing-accounts';
import { EmbeddedBillingProvider } from '../lambda/billing/embedded-provider';
import { UsageSender } from '../lambda/billing/usage-sender';
import { ledgerKeys, ledgerRecord } from '../lambda/metering/ledger';
import { ensureMeteringTable } from '../local/local-tables';

const N = Number(process.env.N ?? 1_000_000);
const C = Number(process.env.C ?? 10);
const DAY = '2026-12-06';
const TABLE = 'bench-billing';
const MODELS = ['qwen3-8b', 'qwen3-14b', 'ft:qwen3-8b:org:support', 'fine-tuning:qwen3-8b'];

async function main(): Promise<void> {
  const server = dynalite({ createTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = new DynamoDBClient({
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  let calls = 0;
  let queryPages = 0;
  let itemsRead = 0;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      calls += 1;
      const result = await next(args);
      if (context.commandName === 'QueryCommand') {
        queryPages += 1;
        itemsRead += (result.output as { Count?: number }).Count ?? 0;
      }
      return result;
    },
    { step: 'initialize', name: 'benchCount' },
  );
  await ensureMeteringTable(client, TABLE);
  const doc = DynamoDBDocumentClient.from(client);

  const writeStart = performance.now();
  let total = 0;
  const start = Date.parse(`${DAY}T00:00:00.000Z`);
  for (let i = 0; i < N; i += 25) {
    const items = [];
    for (let j = i; j < Math.min(N, i + 25); j += 1) {
      const startedAt = new Date(start + Math.floor((j / N) * 86_400_000)).toISOString();
      const record = ledgerRecord({
        requestId: `r${j}`,
        customerId: `org_${j % C}`,
        model: MODELS[j % MODELS.length] as string,
        tier: 'developer',
        inputTokens: 200 + (j % 997),
        outputTokens: 50 + (j % 211),
        prices: { inputMicroUsdPerMillion: 50_000, outputMicroUsdPerMillion: 80_000 },
        status: 'completed',
        startedAt,
        finishedAt: startedAt,
        ...(j % 5 === 0 ? { batch: true, discountPercent: 50 } : {}),
      });
      total += record.costMicroUsd;
      items.push({
        PutRequest: {
          Item: {
            ...ledgerKeys(record),
            ...record,
            ...(j % 3 === 0 ? { projectId: 'proj_b' } : {}),
          },
        },
      });
    }
    await doc.send(new BatchWriteCommand({ RequestItems: { [TABLE]: items } }));
    if ((i / 25) % 4000 === 0 && i > 0) console.log(`written ${i} records`);
  }
  const writeMs = performance.now() - writeStart;

  const now = new Date(`2026-12-07T02:00:00.000Z`);
  const accounts = new BillingAccounts(doc, TABLE);
  const provider = new EmbeddedBillingProvider(doc, TABLE, 'http://127.0.0.1:1', () => now);
  for (let c = 0; c < C; c += 1) {
    const customerId = `org_${c}`;
    await accounts.create({
      customerId,
      providerCustomerId: await provider.createCustomer({ customerId }),
      billedFrom: `${DAY}T00:00:00.000Z`,
      status: 'active',
      createdAt: `${DAY}T00:00:00.000Z`,
    });
  }
  const sender = new UsageSender(doc, TABLE, accounts, provider, { now: () => now });
  calls = 0;
  queryPages = 0;
  itemsRead = 0;
  const sendStart = performance.now();
  const report = await sender.run();
  const sendMs = performance.now() - sendStart;
  if (report.sentMicroUsd !== total) {
    throw new Error(`sent ${report.sentMicroUsd} µ$, the ledger holds ${total} µ$`);
  }
  console.log(
    JSON.stringify(
      {
        records: N,
        organizations: C,
        writeSeconds: Math.round(writeMs / 100) / 10,
        senderSeconds: Math.round(sendMs / 100) / 10,
        senderRecordsPerSecond: Math.round(N / (sendMs / 1000)),
        hoursSettled: report.hoursSettled,
        usageEvents: report.events,
        dynamoCalls: calls,
        queryPages,
        itemsReadPerRecord: Math.round((itemsRead / N) * 1000) / 1000,
        queryPagesPerRecord: Math.round((queryPages / N) * 100_000) / 100_000,
        sentMicroUsd: report.sentMicroUsd,
      },
      null,
      2,
    ),
  );
  client.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
