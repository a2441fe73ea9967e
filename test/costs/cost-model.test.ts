import { runCli } from '../../cli/main';
import { loadConfig } from '../../lib/config/load';
import { type CostInputsInput, defaultCostInputs, parseCostInputs } from '../../lib/costs/inputs';
import {
  chatComputeComparison,
  freeTierWorstCase,
  gatewayCost,
  idleCost,
  MissingCostInput,
  marginConfigPatch,
  modelGpuCost,
  pricesForMargin,
  sellingBelowCost,
  tierMargins,
  usageCost,
} from '../../lib/costs/model';
import { buildCostReport, formatCostReport } from '../../lib/costs/report';
import { countFixedResources } from '../../lib/costs/resources';
import { MANAGED_INSTANCES } from '../support/config-variants';
import { synthesize } from '../support/synth';

const QWEN_8B = 'qwen3-8b';
const QWEN_14B = 'qwen3-14b';
const QWEN = 'qwen3-32b';

/**
 * Round inputs, so each expected figure below can be worked out by hand (the working is in the
 * comments). prod: 75% of each model's serving.sequencesPerCopy: 24 streams per copy for qwen3-8b
 * (32), 12 for qwen3-32b (16).
 */
function roundInputs(overrides: Partial<CostInputsInput> = {}) {
  const sourced = (value: number) => ({ value, source: 'test', readOn: '2026-12-01' });
  return parseCostInputs({
    ...defaultCostInputs,
    prices: {
      ...defaultCostInputs.prices,
      sagemakerInstanceHour: {
        'ml.g5.xlarge': sourced(1.5),
        'ml.g6e.xlarge': sourced(3.6),
        'ml.g6e.12xlarge': sourced(36),
      },
      lambdaGbSecond: sourced(0.00001),
      lambdaPerMillionRequests: sourced(0.2),
      apiGatewayRestPerMillionRequests: sourced(3.5),
      dynamodbPerMillionWriteUnits: sourced(0.625),
      dynamodbPerMillionReadUnits: sourced(0.125),
      cloudWatchLogsPerGbIngested: sourced(0.5),
      xrayPerMillionTraces: sourced(5),
      kmsKeyMonth: sourced(1),
      cloudWatchAlarmMonth: sourced(0.1),
      vpcInterfaceEndpointHourPerAz: sourced(0.01),
    },
    models: {
      [QWEN_8B]: {
        decodeTokensPerSecondPerStream: 25,
        prefillTokensPerSecondPerCopy: 4_000,
        timeToFirstTokenMs: 180,
        kind: 'measured',
        source: 'test',
      },
      [QWEN_14B]: {
        decodeTokensPerSecondPerStream: 10,
        prefillTokensPerSecondPerCopy: 1_000,
        timeToFirstTokenMs: 480,
        kind: 'estimate',
        source: 'test',
      },
      [QWEN]: {
        decodeTokensPerSecondPerStream: 20,
        prefillTokensPerSecondPerCopy: 2_000,
        timeToFirstTokenMs: 280,
        kind: 'estimate',
        source: 'test',
      },
    },
    gpuUtilization: 0.5,
    request: {
      chatFunctionMemoryMb: 1024,
      authorizerMemoryMb: 256,
      chatOverheadMs: 20,
      authorizerDurationMs: 20,
      authorizerCacheHitRatio: 0.9,
      dynamodbWriteUnits: 6,
      dynamodbReadUnits: 2,
      logBytes: 1024 ** 3 / 1_000_000, // 1 GB per million requests
      xraySampledRatio: 0.05,
      source: 'test',
    },
    managedInstances: {
      instanceType: 'c7g.xlarge',
      vCpusPerInstance: 4,
      ec2InstanceHour: sourced(0.1),
      managementFeePercent: sourced(50),
      minInstances: 3,
      targetCpuUtilization: 0.5,
      maxConcurrentStreamsPerVCpu: 64,
      cpuMsPerRequest: 20,
      source: 'test',
    },
    typicalRequest: { inputTokens: 1_000, outputTokens: 300 },
    hoursPerMonth: 730,
    daysPerMonth: 30,
    ...overrides,
  });
}

const prod = loadConfig({ env: 'prod' });
const dev = loadConfig({ env: 'dev' });

describe('GPU cost per model', () => {
  it('divides the copy-second by what the copy delivers at the target concurrency and utilization', () => {
    // $3.60/h = $0.001/s; at 50% utilization a useful copy-second costs $0.002.
    // Output: 24 streams x 25 tok/s = 600 tok/s -> $0.002 / 600 = $3.33 per 1M.
    // Input: $0.002 / 4,000 tok/s = $0.0000005 per token = $0.50 per 1M.
    const cost = modelGpuCost(prod, roundInputs(), QWEN_8B);
    expect(cost.copiesPerInstance).toBe(1);
    expect(cost.concurrencyPerCopy).toBe(24);
    expect(cost.outputTokensPerSecondPerCopy).toBe(600);
    expect(cost.outputUsdPerMillion).toBeCloseTo(10 / 3, 9);
    expect(cost.inputUsdPerMillion).toBeCloseTo(0.5, 9);
  });

  it('shares an instance between the copies that fit on it', () => {
    // qwen3-32b: 2 GPUs per copy on a 4-GPU ml.g6e.12xlarge -> 2 copies, $18/h each = $0.005/s,
    // $0.01 per useful second; 12 x 20 = 240 tok/s -> $41.67 per 1M output; $0.01 / 2,000 = $5 per
    // 1M input.
    const cost = modelGpuCost(prod, roundInputs(), QWEN);
    expect(cost.copiesPerInstance).toBe(2);
    expect(cost.copyHourUsd).toBe(18);
    expect(cost.outputUsdPerMillion).toBeCloseTo(10_000 / 240, 9);
    expect(cost.inputUsdPerMillion).toBeCloseTo(5, 9);
  });

  it("reads the model's serving density: half the sequences per copy, twice the cost of a token", () => {
    const half = loadConfig({
      env: 'prod',
      overrides: { models: { [QWEN_8B]: { serving: { sequencesPerCopy: 16 } } } },
    });
    const halfTarget = {
      ...prod,
      environment: {
        ...prod.environment,
        inference: { ...prod.environment.inference, targetUtilizationPercent: 50 },
      },
    };
    expect(modelGpuCost(half, roundInputs(), QWEN_8B).concurrencyPerCopy).toBe(12);
    expect(modelGpuCost(half, roundInputs(), QWEN_8B).outputUsdPerMillion).toBeCloseTo(20 / 3, 9);
    expect(modelGpuCost(halfTarget, roundInputs(), QWEN_8B).concurrencyPerCopy).toBe(16);
  });

  it('names the missing input instead of guessing', () => {
    const inputs = roundInputs();
    delete (inputs.models as Record<string, unknown>)[QWEN];
    expect(() => modelGpuCost(prod, inputs, QWEN)).toThrow(MissingCostInput);
    expect(() => modelGpuCost(prod, inputs, QWEN)).toThrow(/no throughput for "qwen3-32b"/);
    const noPrice = roundInputs();
    delete (noPrice.prices.sagemakerInstanceHour as Record<string, unknown>)['ml.g6e.xlarge'];
    expect(() => modelGpuCost(prod, noPrice, QWEN_8B)).toThrow(/no price for ml.g6e.xlarge/);
  });
});

describe('gateway cost of requests', () => {
  it('adds API Gateway, the authorizer, the chat function for the whole stream, DynamoDB, logs and X-Ray', () => {
    const inputs = roundInputs();
    const throughput = inputs.models[QWEN_8B];
    if (!throughput) throw new Error('test inputs lack the model');
    // One million requests of 1,000 input + 300 output tokens:
    const cost = gatewayCost(inputs, throughput, {
      requests: 1e6,
      inputTokens: 1e9,
      outputTokens: 3e8,
    });
    // API Gateway: 1M x $3.50/M.
    expect(cost.apiGateway).toBeCloseTo(3.5, 9);
    // Authorizer: 10% miss the cache = 100,000 calls: $0.02 requests + 0.25 GB x 0.02 s x 100,000 =
    // 500 GB-s x $0.00001 = $0.005.
    expect(cost.authorizer).toBeCloseTo(0.025, 9);
    // Chat function: $0.20 requests + 1 GB x (1M x 0.2 s to first token and overhead + 3e8 / 25
    // tok/s) = 200,000 + 12,000,000 GB-s = 12.2M GB-s x $0.00001 = $122.
    expect(cost.chatFunction).toBeCloseTo(122.2, 9);
    // DynamoDB: 6M write units x $0.625/M + 2M read units x $0.125/M.
    expect(cost.dynamodb).toBeCloseTo(3.75 + 0.25, 9);
    // Logs: 1 GB x $0.50. X-Ray: 50,000 traces x $5/M.
    expect(cost.logs).toBeCloseTo(0.5, 9);
    expect(cost.xray).toBeCloseTo(0.25, 9);
    expect(cost.total).toBeCloseTo(3.5 + 0.025 + 122.2 + 4 + 0.5 + 0.25, 9);
  });

  it('puts GPU and gateway together for some usage of a model', () => {
    const inputs = roundInputs();
    // GPU of one typical request: 1,000 x $0.50/1M + 300 x $3.33/1M = $0.0005 + $0.001.
    const cost = usageCost(prod, inputs, QWEN_8B, {
      requests: 1,
      inputTokens: 1_000,
      outputTokens: 300,
    });
    expect(cost.gpu).toBeCloseTo(0.0015, 12);
    // The gateway's $130.475/1M (above) plus prod's WAF, $0.60/1M requests.
    expect(cost.gateway.total).toBeCloseTo(131.075 / 1e6, 12);
    expect(cost.total).toBeCloseTo(0.0015 + 131.075 / 1e6, 12);
  });
});

describe('price against cost per tier', () => {
  it('gives each tier model its margin on the typical request, batch at the tier discount, and the break-even', () => {
    const margins = tierMargins(prod, roundInputs());
    const developer8b = margins.find((m) => m.tier === 'developer' && m.model === QWEN_8B);
    // Revenue: 1,000 x $0.05/1M + 300 x $0.08/1M = $0.000074; cost $0.001631075 (above).
    expect(developer8b?.requestRevenueUsd).toBeCloseTo(0.000074, 12);
    expect(developer8b?.requestCostUsd).toBeCloseTo(0.001631075, 12);
    expect(developer8b?.marginPercent).toBeCloseTo(((0.000074 - 0.001631075) / 0.000074) * 100, 6);
    // Batch: half the revenue for the same cost.
    expect(developer8b?.batchMarginPercent).toBeCloseTo(
      ((0.000037 - 0.001631075) / 0.000037) * 100,
      6,
    );
    // Break-even: $0.002 per useful copy-second / $0.08 per 1M output tokens = 25,000 tokens/s.
    expect(developer8b?.breakEvenOutputTokensPerSecondPerCopy).toBeCloseTo(25_000, 6);
  });

  it('shows Free models as a cost with no margin, and no batch margin where the tier sells no batch', () => {
    const free = tierMargins(prod, roundInputs()).filter((m) => m.tier === 'free');
    expect(free.map((m) => m.model).sort()).toEqual([QWEN_14B, QWEN_8B]);
    for (const m of free) {
      expect(m.requestRevenueUsd).toBe(0);
      expect(m.requestCostUsd).toBeGreaterThan(0);
      expect(m.marginPercent).toBeUndefined();
      expect(m.batchMarginPercent).toBeUndefined();
      expect(m.breakEvenOutputTokensPerSecondPerCopy).toBeUndefined();
    }
  });

  it('turns a loss into a profit when the price covers the GPU', () => {
    const expensive = loadConfig({
      env: 'prod',
      overrides: {
        tiers: {
          developer: { models: { [QWEN_8B]: { inputUsdPerMillion: 5, outputUsdPerMillion: 20 } } },
        },
      },
    });
    const m = tierMargins(expensive, roundInputs()).find(
      (t) => t.tier === 'developer' && t.model === QWEN_8B,
    );
    // Revenue 1,000 x $5/1M + 300 x $20/1M = $0.011 against $0.001631075.
    expect(m?.marginPercent).toBeCloseTo(((0.011 - 0.001631075) / 0.011) * 100, 6);
  });
});

describe('the most a Free customer can cost', () => {
  it('uses every model to its TPD, all as output, with RPD requests a day', () => {
    const inputs = roundInputs();
    const worst = freeTierWorstCase(prod, inputs);
    // Free: 8B 14,400 RPD, 500,000 TPD; 70B 1,000 RPD, 100,000 TPD. Free keys are pooled: a new
    // account has no usage-plan quota, only the RPDs.
    expect(worst.edgeQuotaPerDay).toBeUndefined();
    const expected = (model: string, requests: number, tokens: number) =>
      usageCost(prod, inputs, model, { requests, inputTokens: 0, outputTokens: tokens }).total * 30;
    expect(worst.models).toEqual([
      {
        model: QWEN_8B,
        requestsPerDay: 14_400,
        tokensPerDay: 500_000,
        monthlyUsd: expected(QWEN_8B, 14_400, 500_000),
      },
      {
        model: QWEN_14B,
        requestsPerDay: 1_000,
        tokensPerDay: 100_000,
        monthlyUsd: expected(QWEN_14B, 1_000, 100_000),
      },
    ]);
    // 8B by hand: GPU 500,000 x $3.33/1M = $1.67 a day; chat function 1 GB x (14,400 x 0.2 s +
    // 500,000 / 25) = 22,880 GB-s = $0.2288 + $0.00288 requests; API Gateway 14,400 x $3.50/M =
    // $0.0504; ... x 30 days.
    const byHand = (5 / 3 + 0.2288 + 0.00288 + 0.0504) * 30;
    expect(worst.models[0]?.monthlyUsd).toBeGreaterThan(byHand);
    expect(worst.models[0]?.monthlyUsd).toBeLessThan(byHand * 1.05);
    expect(worst.monthlyUsd).toBeCloseTo(
      (worst.models[0]?.monthlyUsd ?? 0) + (worst.models[1]?.monthlyUsd ?? 0),
      9,
    );
  });

  it('splits a usage-plan quota smaller than the RPDs between the models', () => {
    const tight = loadConfig({
      env: 'prod',
      // Free keys of their own (no pool): each account's usage plan quota applies.
      overrides: {
        tiers: { free: { edgePool: null, edge: { quota: { limit: 7_700, period: 'DAY' } } } },
      },
    });
    const worst = freeTierWorstCase(tight, roundInputs());
    // 15,400 RPD together against 7,700 a day: half of each.
    expect(worst.models.map((m) => m.requestsPerDay)).toEqual([7_200, 500]);
    expect(worst.edgeQuotaPerDay).toBe(7_700);
  });

  it("ignores the Free plan's quota when Free keys are pooled (the pool's plan has none)", () => {
    const pooled = loadConfig({
      env: 'prod',
      overrides: { tiers: { free: { edge: { quota: { limit: 7_700, period: 'DAY' } } } } },
    });
    const worst = freeTierWorstCase(pooled, roundInputs());
    expect(worst.edgeQuotaPerDay).toBeUndefined();
    expect(worst.models.map((m) => m.requestsPerDay)).toEqual([14_400, 1_000]);
  });
});

describe('idle cost', () => {
  it('keeps no GPU in dev (scale to zero) and one instance per model component in prod', () => {
    const inputs = roundInputs();
    const resources = {
      kmsKeys: 3,
      alarms: 10,
      interfaceEndpointAzs: 0,
      wafWebAcls: 0,
      wafRules: 0,
    };
    const devIdle = idleCost(dev, inputs, resources);
    expect(devIdle.gpu.every((g) => g.instances === 0 && g.monthlyUsd === 0)).toBe(true);
    expect(devIdle.monthlyUsd).toBeCloseTo(3 * 1 + 10 * 0.1, 9);
    const prodIdle = idleCost(prod, inputs, resources);
    // 730 h x ($3.60 + $3.60 + $36 + 3 Whisper instances x $1.50) + $4: whisper-large-v3
    // translates, and its translation component takes a second one-GPU ml.g5.xlarge.
    expect(prodIdle.gpu.map((g) => [g.model, g.instances])).toEqual([
      ['qwen3-8b', 1],
      ['qwen3-14b', 1],
      ['qwen3-32b', 1],
      ['whisper-large-v3-turbo', 1],
      ['whisper-large-v3', 2],
    ]);
    expect(prodIdle.monthlyUsd).toBeCloseTo(730 * (3.6 + 3.6 + 36 + 3 * 1.5) + 4, 6);
  });

  it("counts the KMS keys and alarms of the environment's own templates", () => {
    const { data, api, inference } = synthesize({ env: 'dev' });
    const count = (type: string) =>
      [data, api, inference].reduce((sum, t) => sum + Object.keys(t.findResources(type)).length, 0);
    expect(countFixedResources(dev)).toEqual({
      kmsKeys: count('AWS::KMS::Key'),
      alarms: count('AWS::CloudWatch::Alarm'),
      interfaceEndpointAzs: 0,
      wafWebAcls: 0,
      wafRules: 0,
    });
    expect(count('AWS::KMS::Key')).toBeGreaterThan(0);
  });

  it("adds prod's WAF web ACL and its rules by the month, and its fee to every request", () => {
    const resources = countFixedResources(prod);
    expect([resources.wafWebAcls, resources.wafRules]).toEqual([1, 2]);
    const inputs = roundInputs();
    const idle = idleCost(prod, inputs, resources);
    // $5 for the web ACL + 2 rules x $1.
    expect(idle.wafMonthlyUsd).toBeCloseTo(7, 9);
    const withoutWaf = idleCost(prod, inputs, { ...resources, wafWebAcls: 0, wafRules: 0 });
    expect(idle.monthlyUsd - withoutWaf.monthlyUsd).toBeCloseTo(7, 9);
    const throughput = inputs.models[QWEN_8B];
    if (!throughput) throw new Error('test inputs lack the model');
    const usage = { requests: 1e6, inputTokens: 1e9, outputTokens: 3e8 };
    const guarded = gatewayCost(inputs, throughput, usage, { requestSizeGuard: true });
    const unguarded = gatewayCost(inputs, throughput, usage);
    // 1M requests x $0.60/M.
    expect(guarded.waf).toBeCloseTo(0.6, 9);
    expect(unguarded.waf).toBe(0);
    expect(guarded.total - unguarded.total).toBeCloseTo(0.6, 9);
  });

  it('adds the chat instances and the interface endpoints when the chat function runs on Managed Instances', () => {
    const onInstances = loadConfig({ env: 'prod', overrides: MANAGED_INSTANCES });
    const resources = countFixedResources(onInstances);
    // Six interface endpoints in each of the VPC's three AZs.
    expect(resources.interfaceEndpointAzs).toBe(18);
    const idle = idleCost(onInstances, roundInputs(), resources);
    // 3 instances x $0.10 x 1.5 x 730 h = $328.50; 18 x $0.01 x 730 h = $131.40.
    expect(idle.chatInstances).toBe(3);
    expect(idle.chatInstancesMonthlyUsd).toBeCloseTo(328.5, 9);
    expect(idle.interfaceEndpointsMonthlyUsd).toBeCloseTo(131.4, 9);
    const onLambda = idleCost(prod, roundInputs(), { ...resources, interfaceEndpointAzs: 0 });
    expect(idle.monthlyUsd - onLambda.monthlyUsd).toBeCloseTo(328.5 + 131.4, 6);
  });
});

describe('chat function on Lambda or on Managed Instances', () => {
  it('finds the volume where instances billed per hour overtake invocations billed for the whole stream', () => {
    const comparison = chatComputeComparison(roundInputs(), QWEN_8B, [1e6, 1e9]);
    // A typical 8B stream lasts 0.2 s + 300 / 25 tok/s = 12.2 s: on Lambda $0.0000002 + 12.2 GB-s x
    // $0.00001.
    expect(comparison.lambdaUsdPerRequest).toBeCloseTo(0.0001222, 12);
    // Floor: 3 instances x $0.10 x 1.5 (fee) x 730 h = $328.50 a month; Lambda's cost above the
    // request charge is $0.000122 a request -> $328.50 / $0.000122 = 2,692,623 requests a month.
    expect(comparison.crossoverRequestsPerMonth).toBeCloseTo(328.5 / 0.000122, 3);
    const [million, billion] = comparison.volumes;
    expect(million).toEqual({
      requestsPerMonth: 1e6,
      lambdaUsd: expect.closeTo(122.2, 9),
      managedInstancesUsd: expect.closeTo(328.5 + 0.2, 9),
      managedInstances: 3,
    });
    // 1e9 a month = 380.5 requests/s. An instance takes min(4 vCPU x 50% / 20 ms = 100/s, 4 x 64
    // streams / 12.2 s = 20.98/s): 19 instances = 19 x $0.15 x 730 = $2,080.50, plus $200 of
    // request charges.
    expect(billion?.managedInstances).toBe(19);
    expect(billion?.managedInstancesUsd).toBeCloseTo(2_080.5 + 200, 6);
    expect(billion?.lambdaUsd).toBeCloseTo(122_200, 6);
  });

  it('says never when an instance costs more per request than an invocation', () => {
    const inputs = roundInputs();
    const pricey = parseCostInputs({
      ...inputs,
      managedInstances: {
        ...inputs.managedInstances,
        ec2InstanceHour: { value: 1_000, source: 't', readOn: '2026-12-01' },
      },
    });
    expect(chatComputeComparison(pricey, QWEN_8B, []).crossoverRequestsPerMonth).toBeUndefined();
  });
});

describe('npx tierline costs', () => {
  const run = async (...argv: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(argv, {
      out: (t) => out.push(t),
      err: (t) => err.push(t),
      connect: () => Promise.reject(new Error('costs must not connect to a deployment')),
    });
    return { code, out: out.join('\n'), err: err.join('\n') };
  };

  it('prints per-tier margins, the Free worst case and the idle cost as a table', async () => {
    const { code, out } = await run('--env', 'prod', 'costs');
    expect(code).toBe(0);
    // The defaults' prices (Groq's) are below the estimated cost: said first.
    expect(out.split('\n')[0]).toMatch(
      /^WARNING: these prices sell below cost: developer qwen3-8b \(margin -\d+%\)/,
    );
    expect(out).toMatch(
      /Tierline costs, environment "prod", us-east-1, list prices read 2026-12-01/,
    );
    expect(out).toMatch(/^developer\s+qwen3-8b\s+\$0\.05 \/ \$0\.08/m);
    expect(out).toMatch(/total: \$\d+\.\d\d per Free customer per month/);
    expect(out).toMatch(/Idle cost of "prod" per month/);
    expect(out).toMatch(/is an estimate, not a measurement/);
    expect(out).toMatch(/^qwen3-8b\s+\$0\.000152\s.*\d+\.\dM req\/month$/m);
  });

  it('answers --json with the same report the tables are made of', async () => {
    const { code, out } = await run('--env', 'dev', '--json', 'costs', '--utilization', '80');
    expect(code).toBe(0);
    const report = JSON.parse(out);
    expect(report.environment).toBe('dev');
    expect(report.gpuUtilization).toBe(0.8);
    const expected = buildCostReport(
      dev,
      parseCostInputs({ ...defaultCostInputs, gpuUtilization: 0.8 }),
      countFixedResources(dev),
    );
    expect(report).toEqual(JSON.parse(JSON.stringify(expected)));
    expect(formatCostReport(expected)).toContain('dev');
  });

  it('refuses a utilization outside (0, 100] and an unknown environment, with the reason', async () => {
    const zero = await run('costs', '--utilization', '0');
    expect(zero.code).not.toBe(0);
    expect(zero.err).toMatch(/must be a percentage above 0 and at most 100/);
    const unknown = await run('--env', 'nowhere', 'costs');
    expect(unknown.code).toBe(2); // invalid_input (docs/operating.md, "Exit codes")
    expect(unknown.err).toMatch(/Unknown environment "nowhere"/);
  });
});

describe('prices for a margin', () => {
  it('prices each paying tier model so its typical request earns the margin, rounded up to the cent', () => {
    const prices = pricesForMargin(prod, roundInputs(), 40);
    const developer8b = prices.find((p) => p.tier === 'developer' && p.model === QWEN_8B);
    // GPU $0.0005 input + $0.001 output; the gateway's $0.000131075 split 1:2 by GPU cost.
    // Input: ($0.0005 + $0.0000436917) / 1,000 tokens / 0.6 = $0.9062/1M -> $0.91.
    // Output: ($0.001 + $0.0000873833) / 300 tokens / 0.6 = $6.0410/1M -> $6.05.
    expect(developer8b).toMatchObject({ inputUsdPerMillion: 0.91, outputUsdPerMillion: 6.05 });
    // Revenue 1,000 x $0.91/1M + 300 x $6.05/1M = $0.002725 against $0.001631075.
    expect(developer8b?.marginPercent).toBeCloseTo(((0.002725 - 0.001631075) / 0.002725) * 100, 6);
    expect(prices.every((p) => p.marginPercent >= 40)).toBe(true);
    expect(prices.some((p) => p.tier === 'free')).toBe(false);
  });

  it('gives a config patch that, applied, sells nothing below cost', () => {
    const inputs = roundInputs();
    const patch = marginConfigPatch(pricesForMargin(prod, inputs, 40));
    const patched = loadConfig({ env: 'prod', overrides: patch });

    const margins = tierMargins(patched, inputs).filter((m) => m.marginPercent !== undefined);
    expect(margins.length).toBeGreaterThan(0);
    expect(margins.every((m) => (m.marginPercent ?? 0) >= 40)).toBe(true);
    expect(sellingBelowCost(tierMargins(patched, inputs))).toEqual([]);
    expect(
      sellingBelowCost(tierMargins(prod, inputs)).map((m) => `${m.tier} ${m.model}`),
    ).toContain(`developer ${QWEN_8B}`);
  });

  it('npx tierline costs --margin 40 prints the prices per tier and the patch', async () => {
    const out: string[] = [];
    const code = await runCli(['--env', 'prod', 'costs', '--margin', '40'], {
      out: (t) => out.push(t),
      err: () => undefined,
      connect: () => Promise.reject(new Error('costs must not connect to a deployment')),
    });
    const text = out.join('\n');
    expect(code).toBe(0);
    expect(text).toMatch(/Prices that reach a 40% margin on the typical request/);
    expect(text).toMatch(
      /^developer\s+qwen3-8b\s+\$0\.05 \/ \$0\.08\s+-\d+%\s+\$\d+\.\d\d \/ \$\d+\.\d\d\s+4\d%$/m,
    );
    const patch = JSON.parse(text.slice(text.indexOf('{\n'), text.lastIndexOf('}') + 1));
    expect(Object.keys(patch.tiers).sort()).toEqual(['developer', 'enterprise']);
    const patched = loadConfig({ env: 'prod', overrides: patch });
    expect(sellingBelowCost(tierMargins(patched, parseCostInputs(defaultCostInputs)))).toEqual([]);
  });
});
