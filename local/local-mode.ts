import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { serve } from '@hono/node-server';
import dynalite from 'dynalite';
import { Operator, OperatorError } from '../cli/operator';
import { BatchService } from '../lambda/batches/batch-service';
import { BatchWorker } from '../lambda/batches/batch-worker';
import { BatchesRepository } from '../lambda/batches/batches-repository';
import { FilesTableEraser } from '../lambda/batches/customer-data';
import { InProcessBatchQueue } from '../lambda/batches/in-process-queue';
import { hashApiKey } from '../lambda/customers/api-keys';
import { KEY_USE_RESOLUTION_MS } from '../lambda/customers/authenticate';
import {
  CustomersRepository,
  createDocumentClient,
} from '../lambda/customers/customers-repository';
import { createFiles } from '../lambda/files/create-files';
import { createS3Client } from '../lambda/files/file-storage';
import { AdaptersService } from '../lambda/fine-tuning/adapters-service';
import { createFineTuningJobs } from '../lambda/fine-tuning/create-jobs';
import { type JobLauncher, NO_TRAINER } from '../lambda/fine-tuning/job-launcher';
import { FineTunedModelResolver, readyFineTunes } from '../lambda/fine-tuning/model-resolver';
import { ModelsRepository } from '../lambda/fine-tuning/models-repository';
import { createApiApp } from '../lambda/http/app';
import type { ModelBackend } from '../lambda/inference/backends/model-backend';
import {
  TEST_MODEL_OWNER,
  TestModelBackend,
} from '../lambda/inference/backends/test-model-backend';
import { PromptTokenCounter } from '../lambda/inference/prompt-tokens';
import {
  type DeadLetterSink,
  FileDeadLetterSink,
  type LedgerRecord,
} from '../lambda/metering/ledger';
import { createMetering } from '../lambda/metering/request-metering';
import type { SpendAlert } from '../lambda/metering/spend';
import { UsageReports } from '../lambda/metering/usage-report';
import { ServiceUnavailableError } from '../lambda/openai/errors';
import { createLeanDocumentClient } from '../lambda/storage/lean-document-client';
import type { TierlineConfig } from '../lib/config/schema';
import { TIER_NAMES, type TierName } from '../lib/config/tier-names';
import type { OperatorSettings } from '../lib/operator-settings';
import { ApiGatewayEmulator } from './api-gateway-emulator';
import { serveConsole } from './console-server';
import { EdgeThrottle } from './edge-throttle';
import { type LocalBilling, localBillingServices } from './local-billing';
import { localPrincipal } from './local-principal';
import { startLocalS3 } from './local-s3';
import {
  ensureCustomersTable,
  ensureFilesTable,
  ensureFineTuningTable,
  ensureMeteringTable,
} from './local-tables';
import { answerMalformedRequestsInOpenAIShape } from './malformed-requests';

export const LOCAL_CUSTOMERS_TABLE = 'tierline-local-customers';
export const LOCAL_METERING_TABLE = 'tierline-local-metering';
export const LOCAL_FILES_TABLE = 'tierline-local-files';
export const LOCAL_FILES_BUCKET = 'tierline-local-files';
export const LOCAL_FINE_TUNING_TABLE = 'tierline-local-fine-tuning';
export const LOCAL_FINE_TUNING_BUCKET = 'tierline-local-lora';
export const LOCAL_STAGE = 'local';

/** What `tierline --local` reads to reach a running local mode. */
export interface LocalConnection {
  dynamoEndpoint: string;
  settings: OperatorSettings;
  /** The file the ledger's dead letters go to (local mode's stand-in for the SQS queue). */
  ledgerDeadLettersFile?: string;
  /** The embedded S3 server holding the files bucket (`customers delete` removes a customer's content). */
  s3Endpoint?: string;
}

/** Streams cut by a shutdown end (error event, billing) within this; past it their connections are cut. */
const STREAM_END_GRACE_MS = 5_000;

export const deadLettersFile = (dataDir: string) => path.join(dataDir, 'ledger-dead-letters.jsonl');
const eventsFile = (dataDir: string) => path.join(dataDir, 'events.jsonl');

/** Dead letters kept in memory when local mode keeps no files (tests). */
class MemoryDeadLetterSink implements DeadLetterSink {
  readonly records: LedgerRecord[] = [];
  async send(record: LedgerRecord): Promise<void> {
    this.records.push(record);
  }
}

export const connectionFile = (dataDir: string) => path.join(dataDir, 'local-mode.json');
const demoKeysFile = (dataDir: string) => path.join(dataDir, 'demo-keys.json');

export interface LocalModeOptions {
  config: TierlineConfig;
  /** HTTP port; 0 picks a free one. */
  port: number;
  /** Folder for the DynamoDB data and demo keys; undefined keeps everything in memory (tests). */
  dataDir?: string;
  /** The model backend; the deterministic test model when absent. */
  backend?: ModelBackend;
  /** `owned_by` in `/v1/models` for a custom backend. */
  modelOwner?: string;
  /** Authorizer decision cache, as API Gateway keeps it. @default the config's authorizerCacheTtlSeconds */
  authorizerCacheTtlMs?: number;
  log?: (line: string) => void;
  /** The clock (tests). */
  now?: () => Date;
  /** Keep usage aggregates in step after each ledger write (AWS does it from the table stream). @default true */
  aggregateInline?: boolean;
  /** A DynamoDB engine that is already running (the benchmark runs dynalite in its own process). */
  dynamoEndpoint?: string;
  /** Batch messages the in-process worker runs at once (SQS batch size x concurrency in AWS). @default 2 */
  batchConcurrency?: number;
  /** Delay before a failed batch message comes back (SQS's visibility timeout). @default 1000 */
  batchRetryDelayMs?: number;
  /** How often the in-process worker sweeps for batches past their window (EventBridge in AWS). @default 60 s */
  batchSweepIntervalMs?: number;
  /** How often the billing usage sender runs (an hourly schedule in AWS). @default 5 min */
  billingIntervalMs?: number;
  /** How long stop waits for requests in flight to be billed. @default 60 s */
  shutdownGraceMs?: number;
  /** How long stop waits for streams to send their error event and end before it cuts them. @default 5 s */
  streamEndGraceMs?: number;
  /**
   * Sees the DynamoDB client before use (benchmarks add a counting middleware). Given, every call
   * goes through the SDK's middleware (the lean client's item calls would pass it by).
   */
  instrumentDynamo?: (client: DynamoDBClient) => void;
  /**
   * What runs fine-tuning jobs. Local mode has no GPU trainer: by default a job fails at once
   * saying that fine-tuning needs SageMaker (tests pass a launcher that talks to a mocked Step
   * Functions).
   */
  fineTuningLauncher?: JobLauncher;
  /** Build and serve the web console at `/`, same origin as the API. @default true */
  console?: boolean;
  /**
   * Adapter components on SageMaker instead of ready at once (tests, with a mocked client):
   * registering creates one, reads apply its status, deletion removes it, as in AWS.
   */
  sagemaker?: SageMakerClient;
  /** A request's maximum duration, after which (plus a minute's margin) the reconciler takes it over. @default 15 min */
  maxRequestMs?: number;
  /** The reconciler's margin past the maximum duration (the crash test shortens it). @default 60 s */
  reconcileMarginMs?: number;
  /** How often the reconciler of crashed requests runs (EventBridge runs it every minute in AWS). @default 60 s */
  reconcileIntervalMs?: number;
}

export interface DemoCustomer {
  tier: TierName;
  customerId: string;
  apiKey: string;
}

export interface LocalMode {
  url: string;
  /** The web console, when served. */
  consoleUrl?: string;
  openAIBaseUrl: string;
  demoCustomers: DemoCustomer[];
  operator: Operator;
  /** Spend alerts published since start (in AWS they go to EventBridge). */
  events: SpendAlert[];
  /** The DynamoDB engine's endpoint, for tests that look at the tables. */
  dynamoEndpoint: string;
  /** The embedded S3 server's endpoint (bucket {@link LOCAL_FILES_BUCKET}). */
  s3Endpoint: string;
  /** The in-process batch queue: `idle()` resolves when the worker has nothing left to do. */
  batchQueue: InProcessBatchQueue;
  /** Billing: the embedded provider, the usage sender, upgrades and the local checkout page. */
  billing: LocalBilling;
  stop(): Promise<void>;
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}

/** Makes sure each tier has its usage plan in the emulator, with the config's current limits ("deploy"). */
async function deployTierPlans(
  emulator: ApiGatewayEmulator,
  config: TierlineConfig,
): Promise<Record<string, string>> {
  const ids: Record<string, string> = {};
  for (const tier of TIER_NAMES) {
    const { edge } = config.tiers[tier];
    const id = `local-${tier}`;
    await emulator.upsertPlan(
      id,
      `tierline-${config.environment.name}-${tier}`,
      { rateLimit: edge.rateLimit, burstLimit: edge.burstLimit },
      edge.quota ? { limit: edge.quota.limit, period: edge.quota.period } : undefined,
    );
    ids[tier] = id;
  }
  return ids;
}

/**
 * One demo customer per tier. Their keys are kept in plain text in the data folder (local mode
 * only), so a restart can print them again. A saved key is printed only while it is still the
 * customer's key (hash compared): a key that went missing, or that `tierline --local customers
 * rotate-key` replaced, is rotated, so the banner never shows a dead key. A demo customer an
 * operator revoked is left out.
 */
async function seedDemoCustomers(
  operator: Operator,
  dataDir: string | undefined,
): Promise<DemoCustomer[]> {
  const file = dataDir ? demoKeysFile(dataDir) : undefined;
  const saved: Record<string, string> =
    file && existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
  const demo: DemoCustomer[] = [];
  for (const tier of TIER_NAMES) {
    const email = `demo-${tier}@tierline.local`;
    const result = await operator
      .createCustomer({ name: `Demo ${tier}`, email, tier })
      .catch((error: unknown) => {
        if (error instanceof OperatorError && error.kind === 'wrong_state') return undefined; // revoked
        throw error;
      });
    if (!result) continue;
    const savedKey = saved[result.customer.customerId];
    const current =
      savedKey && hashApiKey(savedKey) === result.customer.keyHash ? savedKey : undefined;
    let apiKey = result.apiKey ?? current;
    if (!apiKey) apiKey = (await operator.rotateKey(result.customer.customerId)).apiKey;
    demo.push({ tier, customerId: result.customer.customerId, apiKey });
  }
  if (file)
    writeFileSync(
      file,
      `${JSON.stringify(Object.fromEntries(demo.map((d) => [d.customerId, d.apiKey])), null, 2)}\n`,
      {
        mode: 0o600,
      },
    );
  return demo;
}

/** Starts Tierline on this machine: the same API app, dynalite as DynamoDB, the real authorizer code. */
export async function startLocalMode(options: LocalModeOptions): Promise<LocalMode> {
  const { config } = options;
  if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });

  const dynamo = options.dynamoEndpoint
    ? undefined
    : dynalite({
        path: options.dataDir ? path.join(options.dataDir, 'dynamodb') : undefined,
        createTableMs: 0,
        deleteTableMs: 0,
        updateTableMs: 0,
      });
  const dynamoEndpoint = dynamo
    ? `http://127.0.0.1:${await listen(dynamo, 0, '127.0.0.1')}`
    : (options.dynamoEndpoint as string);
  const client = new DynamoDBClient({
    endpoint: dynamoEndpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  options.instrumentDynamo?.(client);
  await ensureCustomersTable(client, LOCAL_CUSTOMERS_TABLE);
  await ensureMeteringTable(client, LOCAL_METERING_TABLE);
  await ensureFilesTable(client, LOCAL_FILES_TABLE);
  await ensureFineTuningTable(client, LOCAL_FINE_TUNING_TABLE);
  await ApiGatewayEmulator.createTable(client);
  // File content in an embedded S3 server, on disk beside the DynamoDB data (or in a temporary
  // folder).
  const s3Server = await startLocalS3({
    directory: options.dataDir ? path.join(options.dataDir, 's3') : undefined,
    bucket: LOCAL_FILES_BUCKET,
    moreBuckets: [LOCAL_FINE_TUNING_BUCKET],
  });
  const s3 = createS3Client({ endpoint: s3Server.endpoint });
  // As in Lambda, item calls skip the SDK's middleware, unless a caller counts calls through that
  // middleware.
  const doc = options.instrumentDynamo
    ? createDocumentClient(client)
    : createLeanDocumentClient(client);
  const customers = new CustomersRepository(doc, LOCAL_CUSTOMERS_TABLE);
  const emulator = new ApiGatewayEmulator(doc);

  const events: SpendAlert[] = [];
  const logError = (message: string, details: Record<string, unknown>) =>
    options.log?.(`${message}: ${String((details.error as Error)?.stack ?? details.error ?? '')}`);
  const metering = createMetering({
    config,
    doc,
    tableName: LOCAL_METERING_TABLE,
    deadLetters: options.dataDir
      ? new FileDeadLetterSink(deadLettersFile(options.dataDir))
      : new MemoryDeadLetterSink(),
    alerts: {
      publish: async (alert) => {
        events.push(alert);
        options.log?.(`spend alert: ${JSON.stringify(alert)}`);
        if (options.dataDir)
          appendFileSync(eventsFile(options.dataDir), `${JSON.stringify(alert)}\n`);
      },
    },
    // Local mode has no table stream: the aggregates follow each ledger write in-process.
    aggregateInline: options.aggregateInline ?? true,
    maxRequestMs: options.maxRequestMs,
    reconcileMarginMs: options.reconcileMarginMs,
    now: options.now,
    logError,
  });
  // Requests a killed earlier run of this server left behind are billed and released here, as in
  // AWS.
  let reconciling: Promise<unknown> = Promise.resolve();
  const reconcile = () => {
    reconciling = metering.reconciler
      .run()
      .then((report) => {
        if (report.found > 0)
          options.log?.(`reconciled ${report.found} crashed requests (${report.billed} billed)`);
        for (const { requestId, error } of report.failed)
          logError(`reconciling ${requestId} failed`, { error });
      })
      .catch((error: unknown) => logError('reconciler run failed', { error }));
  };
  reconcile();
  const reconcileTimer = setInterval(reconcile, options.reconcileIntervalMs ?? 60_000);
  reconcileTimer.unref();

  // Every request from its admission to the end of its billing, so that stop can wait for all of
  // them: a request still being admitted, a model still answering, a ledger write still queued.
  const inFlight = new Set<Promise<unknown>>();
  const track = <T>(work: Promise<T>): Promise<T> => {
    inFlight.add(work);
    void work.then(
      () => inFlight.delete(work),
      () => inFlight.delete(work),
    );
    return work;
  };
  const shutdown = new AbortController();
  const trackedMetering = {
    headersFor: metering.metering.headersFor.bind(metering.metering),
    admit: async (request: Parameters<typeof metering.metering.admit>[0]) => {
      if (shutdown.signal.aborted)
        throw new ServiceUnavailableError('Tierline is shutting down: retry.', 5);
      let billed!: () => void;
      track(new Promise<void>((resolve) => (billed = resolve)));
      try {
        const metered = await metering.metering.admit(request);
        const end = (work: Promise<void>) => track(work).finally(billed);
        return {
          ...metered,
          finish: (outcome: Parameters<typeof metered.finish>[0]) => end(metered.finish(outcome)),
          release: () => end(metered.release()),
        };
      } catch (error) {
        billed(); // refused: nothing to bill
        throw error;
      }
    },
  };

  // The built-in test model reports prompt usage as a real server does: with the model's tokenizer.
  const counter = new PromptTokenCounter(config);
  const backend =
    options.backend ??
    new TestModelBackend({ promptTokens: (model, messages) => counter.count(model, messages) });
  const ownedBy = backend instanceof TestModelBackend ? TEST_MODEL_OWNER : options.modelOwner;
  const files = createFiles({
    doc,
    tableName: LOCAL_FILES_TABLE,
    s3,
    bucket: LOCAL_FILES_BUCKET,
    config: config.files,
    now: options.now,
  });
  // Uploaded LoRA adapters: no SageMaker here, so a registered adapter is ready at once and the
  // local backend serves it by name (the test model says which adapter answered; an upstream gets
  // the name as `model`).
  const models = new ModelsRepository(LOCAL_FINE_TUNING_TABLE, client);
  // The batch worker runs in this process, on the same tables, bucket, ledger and spend as the API.
  const batchesRepository = new BatchesRepository(doc, LOCAL_FILES_TABLE);
  const batchQueue = new InProcessBatchQueue({
    concurrency: options.batchConcurrency ?? 2,
    retryDelayMs: options.batchRetryDelayMs,
    onError: (error) => logError('batch message failed (it will be retried)', { error }),
  });
  const batchWorker = new BatchWorker({
    config,
    batches: batchesRepository,
    files: files.files,
    storage: files.storage,
    backend,
    ledger: metering.ledger,
    spend: metering.spend,
    queue: batchQueue,
    fineTunes: readyFineTunes(models),
    now: options.now,
  });
  batchQueue.handler = (message) => batchWorker.handle(message);
  // The queue lived in the last process's memory: open batches get their work again, as SQS
  // redelivers it.
  await batchWorker.resume();
  const adapters = new AdaptersService({
    config,
    models,
    files: files.files,
    s3,
    filesBucket: LOCAL_FILES_BUCKET,
    // One embedded bucket: repackaged adapters sit beside the files under `adapters/`.
    adapterBucket: LOCAL_FILES_BUCKET,
    sagemaker: options.sagemaker,
    now: options.now,
  });
  const sweepTimer = setInterval(
    () => void batchQueue.send([{ kind: 'sweep' }]),
    options.batchSweepIntervalMs ?? 60_000,
  );
  sweepTimer.unref();
  const app = createApiApp({
    config,
    principalOf: localPrincipal({
      lookup: (hash) => customers.getKey(hash),
      recordUse: (hash, now) => customers.recordKeyUse(hash, now, KEY_USE_RESOLUTION_MS),
      emulator,
      throttle: new EdgeThrottle(),
      authorizerCacheTtlMs:
        options.authorizerCacheTtlMs ?? config.environment.authorizerCacheTtlSeconds * 1000,
    }),
    customers,
    backend,
    ...metering,
    metering: trackedMetering,
    shutdownSignal: shutdown.signal,
    modelOwner: ownedBy ? () => ownedBy : undefined,
    files,
    adapters,
    fineTunedModels: new FineTunedModelResolver({
      config,
      models,
      refresh: (model) => adapters.refresh(model),
    }),
    batches: new BatchService({
      config,
      batches: batchesRepository,
      files: files.files,
      queue: batchQueue,
      now: options.now,
    }),
    fineTuningJobs: createFineTuningJobs({
      config,
      dynamo: client,
      tableName: LOCAL_FINE_TUNING_TABLE,
      s3,
      filesBucket: LOCAL_FILES_BUCKET,
      fineTuningBucket: LOCAL_FINE_TUNING_BUCKET,
      files,
      spend: metering.spend,
      ledger: metering.ledger,
      launcher: options.fineTuningLauncher ?? NO_TRAINER,
      now: options.now,
    }).service,
    now: options.now,
    logError,
  });

  const consoleFiles =
    options.console === false
      ? undefined
      : serveConsole(options.dataDir ? path.join(options.dataDir, 'console') : undefined);
  // Assigned once the operator exists (its tier change is billing's); no request comes before.
  let billing: LocalBilling | undefined;
  const fetch: typeof app.fetch = (request, ...rest) => {
    const { pathname } = new URL(request.url);
    if (billing?.owns(pathname)) return billing.fetch(request);
    return consoleFiles?.owns(pathname) ? consoleFiles.fetch(request) : app.fetch(request, ...rest);
  };
  const server = serve({ fetch, port: options.port, hostname: '127.0.0.1' }) as Server;
  answerMalformedRequestsInOpenAIShape(server);
  const port = await new Promise<number>((resolve, reject) => {
    if (server.listening) resolve((server.address() as AddressInfo).port);
    server.once('listening', () => resolve((server.address() as AddressInfo).port));
    server.once('error', reject);
  });
  const url = `http://127.0.0.1:${port}`;

  const settings: OperatorSettings = {
    apiId: 'local',
    stageName: LOCAL_STAGE,
    openAIBaseUrl: `${url}/v1`,
    customersTableName: LOCAL_CUSTOMERS_TABLE,
    meteringTableName: LOCAL_METERING_TABLE,
    filesTableName: LOCAL_FILES_TABLE,
    filesBucketName: LOCAL_FILES_BUCKET,
    usagePlanIds: await deployTierPlans(emulator, config),
  };
  const usageReports = new UsageReports({
    customers,
    aggregates: metering.usage,
    spend: metering.spend,
    doc,
    tableName: LOCAL_METERING_TABLE,
  });
  const operator = new Operator({
    customers,
    spend: metering.spend,
    usageReports,
    aggregates: metering.aggregates,
    apiGateway: emulator.asClient(),
    customerData: new FilesTableEraser(doc, LOCAL_FILES_TABLE, files.storage, batchesRepository),
    settings,
    config,
  });
  billing = localBillingServices({
    doc,
    tableName: LOCAL_METERING_TABLE,
    baseUrl: url,
    tiers: { setTier: async (customerId, tier) => void (await operator.setTier(customerId, tier)) },
    intervalMs: options.billingIntervalMs,
    now: options.now,
    log: options.log,
  });
  const demoCustomers = await seedDemoCustomers(operator, options.dataDir);
  if (options.dataDir) {
    const connection: LocalConnection = {
      dynamoEndpoint,
      settings,
      ledgerDeadLettersFile: deadLettersFile(options.dataDir),
      s3Endpoint: s3Server.endpoint,
    };
    writeFileSync(connectionFile(options.dataDir), `${JSON.stringify(connection, null, 2)}\n`);
  }

  let stopped = false;
  return {
    url,
    consoleUrl: consoleFiles ? `${url}/` : undefined,
    openAIBaseUrl: `${url}/v1`,
    demoCustomers,
    operator,
    events,
    dynamoEndpoint,
    s3Endpoint: s3Server.endpoint,
    batchQueue,
    billing,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      clearInterval(reconcileTimer);
      clearInterval(sweepTimer);
      if (options.dataDir) rmSync(connectionFile(options.dataDir), { force: true });
      await Promise.race([batchQueue.stop(), new Promise((resolve) => setTimeout(resolve, 5_000))]);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Stop every model call: each stream then writes its `data: {"error":...}` event (the
      // shutdown message), bills what it did and ends its response, and server.close() closes each
      // connection once idle. Only what has not ended within the grace is cut: cutting at once
      // dropped the error event, so a client read a bare end it could not tell from a complete
      // answer (issue 20 row 8).
      shutdown.abort();
      const graceMs = options.streamEndGraceMs ?? STREAM_END_GRACE_MS;
      await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, graceMs).unref())]);
      server.closeAllConnections?.();
      await closed;
      // Wait for every request in flight to be billed before the DynamoDB engine goes (a record
      // that cannot be written in time goes to the dead letters, by the ledger writer's own
      // retries).
      const deadline = Date.now() + (options.shutdownGraceMs ?? 60_000);
      while (inFlight.size > 0 && Date.now() < deadline) {
        await Promise.race([
          Promise.allSettled([...inFlight]),
          new Promise((r) => setTimeout(r, 100)),
        ]);
      }
      if (inFlight.size > 0)
        options.log?.(`stopped with ${inFlight.size} requests still being billed`);
      await reconciling;
      await billing?.stop();
      client.destroy();
      s3.destroy();
      await s3Server.stop();
      if (dynamo) await new Promise<void>((resolve) => dynamo.close(() => resolve()));
    },
  };
}
