import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { serve } from '@hono/node-server';
import { Operator, OperatorError } from '../cli/operator';
import { MembershipsRepository } from '../lambda/accounts/memberships';
import { OrganizationPeople } from '../lambda/accounts/organization-people';
import { poolUserReader } from '../lambda/accounts/pool-users';
import { createSessionPrincipals } from '../lambda/accounts/session-principal';
import { createSessionVerifier, isJwtShaped } from '../lambda/accounts/session-tokens';
import type { OrganizationSignUp, SignUpApi } from '../lambda/accounts/sign-up';
import type { SpeechBackend } from '../lambda/audio/speech-backend';
import { FilesTableEraser } from '../lambda/batches/customer-data';
import { InProcessBatchQueue } from '../lambda/batches/in-process-queue';
import type { BillingApi } from '../lambda/billing/billing-summary';
import { type ApiServices, apiServices } from '../lambda/composition/api-services';
import { usageTiersOf } from '../lambda/composition/billing';
import type { Engines } from '../lambda/composition/engines';
import { batchWorker } from '../lambda/composition/files-and-batches';
import { signUpServices } from '../lambda/composition/sign-up';
import { hashApiKey } from '../lambda/customers/api-keys';
import { KEY_USE_RESOLUTION_MS } from '../lambda/customers/authenticate';
import { poolKeyValues, poolPlanName } from '../lambda/customers/edge-key-pool';
import type { JobLauncher } from '../lambda/fine-tuning/job-launcher';
import { createApiApp } from '../lambda/http/app';

import type { ModelBackend } from '../lambda/inference/backends/model-backend';
import type { RequestMetering } from '../lambda/metering/request-metering';
import type { SpendAlert } from '../lambda/metering/spend';
import { UsageReports } from '../lambda/metering/usage-report';
import { NotFoundError, ServiceUnavailableError } from '../lambda/openai/errors';
import type { TierlineConfig } from '../lib/config/schema';
import { TIER_NAMES, type TierName } from '../lib/config/tier-names';
import type { OperatorSettings } from '../lib/operator-settings';
import { ApiGatewayEmulator } from './api-gateway-emulator';
import { consoleRuntime } from './console-runtime';
import { serveConsole } from './console-server';
import { EdgeThrottle } from './edge-throttle';
import { type LocalBilling, localBillingServices } from './local-billing';
import { type LocalCognito, startLocalCognito } from './local-cognito';
import {
  deadLettersFile,
  LOCAL_CUSTOMERS_TABLE,
  LOCAL_FILES_BUCKET,
  LOCAL_FILES_TABLE,
  LOCAL_METERING_TABLE,
  type LocalStorage,
  localEngines,
  modelOwnerOf,
  startLocalStorage,
} from './local-engines';
import { type InvitationsAt, localInvitations } from './local-invitations';
import { localMailFile } from './local-mail';
import { type LocalSessions, localPrincipal, localSessionOf } from './local-principal';
import { answerMalformedRequestsInOpenAIShape } from './malformed-requests';

export {
  deadLettersFile,
  LOCAL_CUSTOMERS_TABLE,
  LOCAL_FILES_BUCKET,
  LOCAL_FILES_TABLE,
  LOCAL_FINE_TUNING_BUCKET,
  LOCAL_FINE_TUNING_TABLE,
  LOCAL_METERING_TABLE,
} from './local-engines';
export const LOCAL_STAGE = 'local';

/** What `tierline --local` reads to reach a running local mode. */
export interface LocalConnection {
  dynamoEndpoint: string;
  settings: OperatorSettings;
  /** The file the ledger's dead letters go to (local mode's stand-in for the SQS queue). */
  ledgerDeadLettersFile?: string;
  /** The embedded S3 server holding the files bucket (`customers delete` removes a customer's content). */
  s3Endpoint?: string;
  /** The console's user pool (cognito-local) and the mail file, when sign-in runs. */
  signIn?: { endpoint: string; userPoolId: string; clientId: string; mailFile: string };
}

/** Streams cut by a shutdown end (error event, billing) within this; past it their connections are cut. */
const STREAM_END_GRACE_MS = 5_000;

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
  /** Where speech-to-text models run; the deterministic test transcriber when absent. */
  speech?: SpeechBackend;
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
  /**
   * Console sign-in: cognito-local as the user pool, on this port (0: a free one). Absent, no
   * user pool runs (most tests need none). `npm start` turns it on.
   */
  signIn?: { port?: number };
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
  /** The console's user pool (cognito-local) and its mail file, when sign-in is on. */
  signIn?: LocalCognito;
  stop(): Promise<void>;
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
    const pool = config.tiers[tier].edgePool;
    if (!pool) continue;
    // The pooled tier's plan and keys (lib/constructs/api/edge-key-pool.ts), by the same names.
    const poolId = `local-${tier}-pool`;
    const name = poolPlanName(config.environment.name, tier);
    await emulator.upsertPlan(poolId, name, {
      rateLimit: pool.rateLimit,
      burstLimit: pool.burstLimit,
    });
    const values = poolKeyValues(config.environment.name, tier, pool.keys);
    for (const [index, value] of values.entries()) {
      await emulator.upsertPlanKey(poolId, `${poolId}-${index}`, value);
    }
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

/**
 * Console sign-in's services: the user pool (cognito-local, its data and mail file under the data
 * folder, or a temporary folder without one). One function, so the composition root can take it
 * whole.
 */
async function signInServices(
  options: LocalModeOptions,
  consoleUrl: string | undefined,
): Promise<LocalCognito | undefined> {
  if (!options.signIn) return undefined;
  const dataDir = options.dataDir ?? mkdtempSync(path.join(tmpdir(), 'tierline-sign-in-'));
  const cognito = await startLocalCognito({ dataDir, port: options.signIn.port, consoleUrl });
  if (options.dataDir) return cognito;
  return {
    ...cognito,
    stop: async () => {
      await cognito.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * How the API takes console sessions: the pool's tokens verified with aws-jwt-verify (JWKS cached),
 * the organization from the user's memberships.
 */
function sessionServices(deps: {
  signIn: LocalCognito;
  doc: Engines['doc'];
  customers: ApiServices['customers'];
  cacheTtlMs: number;
}): LocalSessions {
  const verify = createSessionVerifier(deps.signIn.sessionSettings);
  return {
    authentication: { isSessionToken: isJwtShaped, verify, usageIdentifierKey: '' },
    principalOf: createSessionPrincipals({
      memberships: new MembershipsRepository(deps.doc, LOCAL_CUSTOMERS_TABLE),
      customers: deps.customers,
      cacheTtlMs: deps.cacheTtlMs,
    }),
  };
}

/** The pages served beside the API: the console's runtime config and Cognito relay, billing's. */
function besideTheApi(
  runtime: ReturnType<typeof consoleRuntime>,
  billing: LocalBilling | undefined,
): { owns(pathname: string): boolean; fetch(request: Request): Response | Promise<Response> } {
  return {
    owns: (pathname) => runtime.owns(pathname) || (billing?.owns(pathname) ?? false),
    fetch: (request) =>
      runtime.owns(new URL(request.url).pathname) || !billing
        ? runtime.fetch(request)
        : billing.fetch(request),
  };
}

/** Sign-up on local mode's tables, API Gateway emulation and user pool. */
function localSignUp(
  engines: Engines,
  config: TierlineConfig,
  parts: {
    signIn: LocalCognito;
    emulator: ApiGatewayEmulator;
    usagePlanIds: Record<string, string>;
  },
): OrganizationSignUp {
  return signUpServices(engines, config, {
    apiGateway: parts.emulator.asClient(),
    tierPlanId: async (tier) => {
      const id = parts.usagePlanIds[tier];
      if (!id) throw new Error(`local mode has no usage plan for tier ${tier}`);
      return id;
    },
    poolUser: poolUserReader(parts.signIn.endpoint),
  });
}

/**
 * Sign-up's service in local mode, made once the user pool and the operator's usage plans exist (no
 * request comes before; without a user pool no session reaches it).
 */
function localSignUpApi(signUp: () => OrganizationSignUp | undefined): SignUpApi {
  const service = () => {
    const built = signUp();
    if (!built) throw new NotFoundError('Sign-up is off: local mode runs without a user pool.');
    return built;
  };
  return {
    service: {
      signUp: (session, body) => service().signUp(session, body),
      organizations: (userId) => service().organizations(userId),
    },
  };
}

/** Starts Tierline on this machine: the same API app, dynalite as DynamoDB, the real authorizer code. */
export async function startLocalMode(options: LocalModeOptions): Promise<LocalMode> {
  const { config } = options;
  const storage = await startLocalStorage(options);
  const events: SpendAlert[] = [];
  const logError = (message: string, details: Record<string, unknown>) =>
    options.log?.(`${message}: ${String((details.error as Error)?.stack ?? details.error ?? '')}`);
  // The batch worker runs in this process, on the same tables, bucket, ledger and spend as the API.
  const batchQueue = new InProcessBatchQueue({
    concurrency: options.batchConcurrency ?? 2,
    retryDelayMs: options.batchRetryDelayMs,
    onError: (error) => logError('batch message failed (it will be retried)', { error }),
  });
  // Filled once the server listens and the user pool runs (below); no invite is sent before.
  const invitationsAt: InvitationsAt = { consoleUrl: '' };
  const invitations = localInvitations(invitationsAt, options.log);
  const engines = localEngines(options, storage, { events, batchQueue, logError, invitations });
  const services = apiServices(engines, config, {
    // Local mode has no table stream: the aggregates follow each ledger write in-process.
    aggregateInline: options.aggregateInline ?? true,
    maxRequestMs: options.maxRequestMs,
    reconcileMarginMs: options.reconcileMarginMs,
  });
  const reconciler = startReconciler(services, options, logError);
  const batchesStopping = new AbortController();
  const sweepTimer = await startBatchWorker(engines, services, options, batchesStopping.signal);
  const shutdown = new AbortController();
  const requests = trackRequests(services.metering, shutdown.signal);
  const emulator = new ApiGatewayEmulator(engines.doc);
  const owner = modelOwnerOf(engines, options);
  // Filled once the user pool runs (after the server listens: its mail links name the console).
  let sessions: LocalSessions | undefined;
  let signUp: OrganizationSignUp | undefined;
  const cacheTtlMs =
    options.authorizerCacheTtlMs ?? config.environment.authorizerCacheTtlSeconds * 1000;
  const app = createApiApp({
    ...services,
    signUp: localSignUpApi(() => signUp),
    principalOf: localPrincipal({
      sessions: () => sessions,
      lookup: (hash) => services.customers.getKey(hash),
      recordUse: (hash, now) => services.customers.recordKeyUse(hash, now, KEY_USE_RESOLUTION_MS),
      emulator,
      throttle: new EdgeThrottle(),
      authorizerCacheTtlMs: cacheTtlMs,
      now: () => (options.now?.() ?? new Date()).getTime(),
    }),
    sessionOf: localSessionOf(() => sessions),
    // Kept for half the emulated authorizer cache, as in Lambda (half the configured TTL).
    activeCustomerCacheMs: cacheTtlMs / 2,
    metering: requests.metering,
    // Billing is made once the operator exists (below); no request comes before it is.
    billing: billingOnceStarted(() => billingOf()),
    shutdownSignal: shutdown.signal,
    modelOwner: owner ? () => owner : undefined,
  });
  // Assigned once the operator exists (its tier change is billing's); no request comes before.
  let billing: LocalBilling | undefined;
  const billingOf = () => {
    if (!billing) throw new Error('local billing is not started yet');
    return billing;
  };
  let signIn: LocalCognito | undefined;
  const runtime = consoleRuntime(() => signIn);
  const served = await serveLocally(app.fetch, options, () => besideTheApi(runtime, billing));
  const { settings, operator } = await localOperator(services, engines, emulator, served.url);
  billing = startLocalBilling(engines, options, operator, served.url);
  const demoCustomers = await seedDemoCustomers(operator, options.dataDir);
  signIn = await signInServices(options, served.consoleUrl);
  invitationsAt.signIn = signIn;
  invitationsAt.consoleUrl = served.consoleUrl ?? served.url;
  if (signIn) {
    const { customers } = services;
    sessions = sessionServices({ signIn, doc: engines.doc, customers, cacheTtlMs });
    signUp = localSignUp(engines, config, {
      signIn,
      emulator,
      usagePlanIds: settings.usagePlanIds,
    });
  }
  if (options.dataDir) writeConnectionFile(options.dataDir, storage, settings, signIn);

  let stopped = false;
  return {
    url: served.url,
    consoleUrl: served.consoleUrl,
    openAIBaseUrl: `${served.url}/v1`,
    demoCustomers,
    operator,
    events,
    dynamoEndpoint: storage.dynamoEndpoint,
    s3Endpoint: storage.s3Endpoint,
    batchQueue,
    billing,
    signIn,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      reconciler.cancel();
      clearInterval(sweepTimer);
      if (options.dataDir) rmSync(connectionFile(options.dataDir), { force: true });
      // Running batch lines finish, none starts (the worker and the queue stop taking them); the
      // next start resumes the batch.
      batchesStopping.abort();
      const batchLinesDone = batchQueue.stop();
      await Promise.race([batchLinesDone, delay(5_000)]);
      await closeServer(served.server, shutdown, options);
      await waitForBilling(requests.inFlight, options);
      // A line still running after the server closed (a slow machine) would write to a closed
      // engine: storage waits for it, up to the shutdown grace.
      await Promise.race([batchLinesDone, delay(options.shutdownGraceMs ?? 60_000)]);
      await reconciler.settled();
      await billing?.stop();
      await signIn?.stop();
      await storage.stop();
    },
  };
}

/** The billing routes' services, read when a request comes (local billing starts after the app). */
function billingOnceStarted(billingOf: () => LocalBilling): BillingApi {
  return {
    service: {
      startUpgrade: (...args) => billingOf().service.startUpgrade(...args),
      requestDowngrade: (customerId) => billingOf().service.requestDowngrade(customerId),
    },
    summaries: { summary: (customerId) => billingOf().summaries.summary(customerId) },
  };
}

/**
 * Bills and releases the requests a killed earlier run of this server left behind, at start and
 * then every interval, as EventBridge runs the reconciler in AWS.
 */
function startReconciler(
  services: Pick<ApiServices, 'reconciler'>,
  options: LocalModeOptions,
  logError: Engines['logError'],
): { cancel(): void; settled(): Promise<unknown> } {
  let reconciling: Promise<unknown> = Promise.resolve();
  const reconcile = () => {
    reconciling = services.reconciler
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
  const timer = setInterval(reconcile, options.reconcileIntervalMs ?? 60_000);
  timer.unref();
  return { cancel: () => clearInterval(timer), settled: () => reconciling };
}

/**
 * The batch worker on the in-process queue; the queue lived in the last process's memory, so open
 * batches get their work again (as SQS redelivers it), and a timer sweeps for batches past their
 * window (EventBridge in AWS). Answers the sweep's timer.
 */
async function startBatchWorker(
  engines: Engines,
  services: ApiServices,
  options: LocalModeOptions,
  stopSignal: AbortSignal,
): Promise<NodeJS.Timeout> {
  const worker = batchWorker(engines, options.config, {
    files: services.files,
    metering: services,
    records: services.batchRecords,
    stopSignal,
  });
  const queue = engines.batchQueue as InProcessBatchQueue;
  queue.handler = (message) => worker.handle(message);
  await worker.resume();
  const sweepTimer = setInterval(
    () => void queue.send([{ kind: 'sweep' }]),
    options.batchSweepIntervalMs ?? 60_000,
  );
  sweepTimer.unref();
  return sweepTimer;
}

/**
 * Every request from its admission to the end of its billing, so that stop can wait for all of
 * them: a request still being admitted, a model still answering, a ledger write still queued. Once
 * the signal is aborted, new requests are refused with a 503.
 */
function trackRequests(metering: RequestMetering, signal: AbortSignal) {
  const inFlight = new Set<Promise<unknown>>();
  const track = <T>(work: Promise<T>): Promise<T> => {
    inFlight.add(work);
    void work.then(
      () => inFlight.delete(work),
      () => inFlight.delete(work),
    );
    return work;
  };
  const tracked = {
    headersFor: metering.headersFor.bind(metering),
    countRequest: async (...args: Parameters<typeof metering.countRequest>) => {
      if (signal.aborted) throw new ServiceUnavailableError('Tierline is shutting down: retry.', 5);
      return track(metering.countRequest(...args));
    },
    admit: async (request: Parameters<typeof metering.admit>[0]) => {
      if (signal.aborted) throw new ServiceUnavailableError('Tierline is shutting down: retry.', 5);
      let billed!: () => void;
      track(new Promise<void>((resolve) => (billed = resolve)));
      try {
        const metered = await metering.admit(request);
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
  return { metering: tracked, inFlight };
}

/** The app (and the web console, same origin) on 127.0.0.1, malformed requests answered as OpenAI does. */
async function serveLocally(
  appFetch: Parameters<typeof serve>[0]['fetch'],
  options: LocalModeOptions,
  /** Pages served beside the API (billing's local checkout), once they exist. */
  pages: () =>
    | { owns(pathname: string): boolean; fetch(request: Request): Response | Promise<Response> }
    | undefined,
): Promise<{ server: Server; url: string; consoleUrl?: string }> {
  const consoleFiles =
    options.console === false
      ? undefined
      : serveConsole(options.dataDir ? path.join(options.dataDir, 'console') : undefined);
  // `env`: the node server's bindings (its incoming and outgoing messages), passed on.
  const fetch: typeof appFetch = (request, env) => {
    const { pathname } = new URL(request.url);
    const extra = pages();
    if (extra?.owns(pathname)) return extra.fetch(request);
    return consoleFiles?.owns(pathname) ? consoleFiles.fetch(request) : appFetch(request, env);
  };
  const server = serve({ fetch, port: options.port, hostname: '127.0.0.1' }) as Server;
  // An idle connection is closed by the client first (undici after 4 s), not by the server: with
  // Node's 5 s default, a client whose timers ran late under load reused a connection the server
  // had just closed and got ECONNRESET (seen in CI). API Gateway keeps idle connections longer
  // than clients do too.
  server.keepAliveTimeout = 65_000;
  answerMalformedRequestsInOpenAIShape(server);
  const port = await new Promise<number>((resolve, reject) => {
    if (server.listening) resolve((server.address() as AddressInfo).port);
    server.once('listening', () => resolve((server.address() as AddressInfo).port));
    server.once('error', reject);
  });
  const url = `http://127.0.0.1:${port}`;
  return { server, url, consoleUrl: consoleFiles ? `${url}/` : undefined };
}

/** The operator (`tierline --local ...`) on local mode's tables, emulator and bucket. */
async function localOperator(
  services: ApiServices,
  engines: Engines,
  emulator: ApiGatewayEmulator,
  url: string,
): Promise<{ settings: OperatorSettings; operator: Operator }> {
  const { config } = services;
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
    customers: services.customers,
    aggregates: services.usage,
    spend: services.spend,
    doc: engines.doc,
    tableName: engines.tables.metering,
  });
  const operator = new Operator({
    customers: services.customers,
    spend: services.spend,
    usageReports,
    aggregates: services.aggregates,
    apiGateway: emulator.asClient(),
    customerData: new FilesTableEraser(
      engines.doc,
      engines.tables.files,
      services.files.storage,
      services.batchRecords,
    ),
    organizationPeople: new OrganizationPeople(engines.doc, engines.tables.customers),
    settings,
    config,
  });
  return { settings, operator };
}

function writeConnectionFile(
  dataDir: string,
  storage: LocalStorage,
  settings: OperatorSettings,
  signIn: LocalCognito | undefined,
) {
  const connection: LocalConnection = {
    dynamoEndpoint: storage.dynamoEndpoint,
    settings,
    ledgerDeadLettersFile: deadLettersFile(dataDir),
    s3Endpoint: storage.s3Endpoint,
    ...(signIn
      ? {
          signIn: {
            endpoint: signIn.endpoint,
            userPoolId: signIn.userPoolId,
            clientId: signIn.clientId,
            mailFile: signIn.mailFile,
          },
        }
      : {}),
  };
  writeFileSync(connectionFile(dataDir), `${JSON.stringify(connection, null, 2)}\n`);
}

/**
 * Stops every model call: each stream then writes its `data: {"error":...}` event (the shutdown
 * message), bills what it did and ends its response, and server.close() closes each connection once
 * idle. Only what has not ended within the grace is cut: cutting at once dropped the error event,
 * so a client read a bare end it could not tell from a complete answer (issue 20 row 8).
 */
async function closeServer(server: Server, shutdown: AbortController, options: LocalModeOptions) {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  shutdown.abort();
  const graceMs = options.streamEndGraceMs ?? STREAM_END_GRACE_MS;
  await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, graceMs).unref())]);
  server.closeAllConnections?.();
  await closed;
}

/**
 * Waits for every request in flight to be billed before the DynamoDB engine goes (a record that
 * cannot be written in time goes to the dead letters, by the ledger writer's own retries).
 */
async function waitForBilling(inFlight: Set<Promise<unknown>>, options: LocalModeOptions) {
  const deadline = Date.now() + (options.shutdownGraceMs ?? 60_000);
  while (inFlight.size > 0 && Date.now() < deadline) {
    await Promise.race([Promise.allSettled([...inFlight]), new Promise((r) => setTimeout(r, 100))]);
  }
  if (inFlight.size > 0) options.log?.(`stopped with ${inFlight.size} requests still being billed`);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** Billing on the embedded provider: the checkout page, the sender every few minutes, the e-mails. */
function startLocalBilling(
  engines: Engines,
  options: LocalModeOptions,
  operator: Pick<Operator, 'setTier'>,
  baseUrl: string,
): LocalBilling {
  const { config } = options;
  return localBillingServices({
    doc: engines.doc,
    tableName: engines.tables.metering,
    customersTable: engines.tables.customers,
    graceDays: config.billing.paymentGraceDays,
    usageTiers: usageTiersOf(config),
    mailFile: options.dataDir ? localMailFile(options.dataDir) : undefined,
    baseUrl,
    tiers: { setTier: async (customerId, tier) => void (await operator.setTier(customerId, tier)) },
    intervalMs: options.billingIntervalMs,
    now: options.now,
    log: options.log,
  });
}
