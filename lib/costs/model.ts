import { type TierlineConfig, type TierName, targetConcurrencyPerCopy } from '../config/schema';
import { TIER_NAMES } from '../config/tier-names';
import {
  GPU_INSTANCE_TYPES,
  speechInstancesForOneCopyEach,
} from '../constructs/inference/instance-types';
import type { CostInputs, ModelThroughput } from './inputs';

/**
 * What Tierline costs its operator, from list prices and what a model copy and a request consume.
 * Pure: the same inputs give the same figures, so the tests can check them against sums worked out
 * by hand.
 */

const MILLION = 1_000_000;
const SECONDS_PER_HOUR = 3_600;
const MB_PER_GB = 1_024;
const BYTES_PER_GB = 1024 ** 3;

/** Requests and tokens over some period. */
export interface Usage {
  requests: number;
  inputTokens: number;
  outputTokens: number;
}

/** GPU cost of one model as this environment deploys it. */
export interface ModelGpuCost {
  model: string;
  instanceType: string;
  instanceHourUsd: number;
  copiesPerInstance: number;
  /** One copy's share of its instance's hourly price. */
  copyHourUsd: number;
  /** Streams one copy serves at once (the environment's autoscaling target). */
  concurrencyPerCopy: number;
  /** All streams of a copy together, at the target concurrency. */
  outputTokensPerSecondPerCopy: number;
  prefillTokensPerSecondPerCopy: number;
  /** GPU cost per 1M tokens at the configured utilization. */
  inputUsdPerMillion: number;
  outputUsdPerMillion: number;
  throughput: ModelThroughput;
}

/** Per-request AWS costs other than the GPU, in USD, for some usage. */
export interface GatewayCost {
  apiGateway: number;
  authorizer: number;
  chatFunction: number;
  dynamodb: number;
  logs: number;
  xray: number;
  /** AWS WAF's per-request fee, where environment.requestSizeGuard puts a web ACL on the stage. */
  waf: number;
  total: number;
}

export interface UsageCost {
  gpu: number;
  gateway: GatewayCost;
  total: number;
}

/** Why a model has no GPU figures (the cost model says so rather than guessing). */
export class MissingCostInput extends Error {}

function copiesPerInstance(config: TierlineConfig, model: string): number {
  const spec = GPU_INSTANCE_TYPES[config.models[model]?.instanceType ?? ''];
  const modelConfig = config.models[model];
  if (!spec || !modelConfig) return 1;
  const byGpus = Math.floor(spec.gpus / modelConfig.acceleratorsPerCopy);
  const byMemory = Math.floor((spec.memoryGiB * 1024) / modelConfig.memoryMiBPerCopy);
  return Math.max(1, Math.min(byGpus, byMemory));
}

/** The GPU cost per 1M input and output tokens of one model, at the inputs' utilization. */
export function modelGpuCost(
  config: TierlineConfig,
  inputs: CostInputs,
  model: string,
): ModelGpuCost {
  const modelConfig = config.models[model];
  if (!modelConfig) throw new MissingCostInput(`model "${model}" is not in the catalog`);
  const throughput = inputs.models[model];
  if (!throughput)
    throw new MissingCostInput(`no throughput for "${model}" in lib/costs/inputs.ts (models)`);
  const price = inputs.prices.sagemakerInstanceHour[modelConfig.instanceType];
  if (!price) {
    throw new MissingCostInput(
      `no price for ${modelConfig.instanceType} in lib/costs/inputs.ts (prices.sagemakerInstanceHour)`,
    );
  }
  const copies = copiesPerInstance(config, model);
  const copyHourUsd = price.value / copies;
  const concurrency = targetConcurrencyPerCopy(modelConfig, config.environment);
  const outputTokensPerSecondPerCopy = throughput.decodeTokensPerSecondPerStream * concurrency;
  const copySecondUsd = copyHourUsd / SECONDS_PER_HOUR / inputs.gpuUtilization;
  return {
    model,
    instanceType: modelConfig.instanceType,
    instanceHourUsd: price.value,
    copiesPerInstance: copies,
    copyHourUsd,
    concurrencyPerCopy: concurrency,
    outputTokensPerSecondPerCopy,
    prefillTokensPerSecondPerCopy: throughput.prefillTokensPerSecondPerCopy,
    inputUsdPerMillion: (copySecondUsd / throughput.prefillTokensPerSecondPerCopy) * MILLION,
    outputUsdPerMillion: (copySecondUsd / outputTokensPerSecondPerCopy) * MILLION,
    throughput,
  };
}

/**
 * API Gateway, the authorizer, the chat function, DynamoDB, logs and traces for some usage of one
 * model. The chat function is alive for the whole stream, so its duration grows with the output
 * tokens, not the requests.
 */
export function gatewayCost(
  inputs: CostInputs,
  throughput: ModelThroughput,
  usage: Usage,
  options: { requestSizeGuard: boolean } = { requestSizeGuard: false },
): GatewayCost {
  const { prices, request } = inputs;
  const perMillion = (count: number, price: { value: number }) => (count / MILLION) * price.value;
  const gbSeconds = (memoryMb: number, seconds: number) => (memoryMb / MB_PER_GB) * seconds;

  const apiGateway = perMillion(usage.requests, prices.apiGatewayRestPerMillionRequests);
  const authorizerCalls = usage.requests * (1 - request.authorizerCacheHitRatio);
  const authorizer =
    perMillion(authorizerCalls, prices.lambdaPerMillionRequests) +
    gbSeconds(request.authorizerMemoryMb, (authorizerCalls * request.authorizerDurationMs) / 1000) *
      prices.lambdaGbSecond.value;
  const chatSeconds =
    (usage.requests * (throughput.timeToFirstTokenMs + request.chatOverheadMs)) / 1000 +
    usage.outputTokens / throughput.decodeTokensPerSecondPerStream;
  const chatFunction =
    perMillion(usage.requests, prices.lambdaPerMillionRequests) +
    gbSeconds(request.chatFunctionMemoryMb, chatSeconds) * prices.lambdaGbSecond.value;
  const dynamodb =
    perMillion(usage.requests * request.dynamodbWriteUnits, prices.dynamodbPerMillionWriteUnits) +
    perMillion(usage.requests * request.dynamodbReadUnits, prices.dynamodbPerMillionReadUnits);
  const logs =
    ((usage.requests * request.logBytes) / BYTES_PER_GB) * prices.cloudWatchLogsPerGbIngested.value;
  const xray = perMillion(usage.requests * request.xraySampledRatio, prices.xrayPerMillionTraces);
  const waf = options.requestSizeGuard
    ? perMillion(usage.requests, prices.wafPerMillionRequests)
    : 0;
  const total = apiGateway + authorizer + chatFunction + dynamodb + logs + xray + waf;
  return { apiGateway, authorizer, chatFunction, dynamodb, logs, xray, waf, total };
}

/** Everything some usage of one model costs the operator. */
export function usageCost(
  config: TierlineConfig,
  inputs: CostInputs,
  model: string,
  usage: Usage,
): UsageCost {
  const gpuCost = modelGpuCost(config, inputs, model);
  const gpu =
    (usage.inputTokens / MILLION) * gpuCost.inputUsdPerMillion +
    (usage.outputTokens / MILLION) * gpuCost.outputUsdPerMillion;
  const gateway = gatewayCost(inputs, gpuCost.throughput, usage, {
    requestSizeGuard: config.environment.requestSizeGuard,
  });
  return { gpu, gateway, total: gpu + gateway.total };
}

/** Price against cost of one tier's model, for the typical request and per 1M tokens. */
export interface TierModelMargin {
  tier: TierName;
  model: string;
  priceInputUsdPerMillion: number;
  priceOutputUsdPerMillion: number;
  costInputUsdPerMillion: number;
  costOutputUsdPerMillion: number;
  /** The typical request: what the customer pays, what it costs, and the gateway's part of that cost. */
  requestRevenueUsd: number;
  requestCostUsd: number;
  requestGatewayCostUsd: number;
  /**
   * Output tokens per second a copy must deliver (all streams, at the configured utilization) for
   * the GPU cost of an output token to equal its price; undefined for a free model.
   */
  breakEvenOutputTokensPerSecondPerCopy: number | undefined;
  /** (revenue - cost) / revenue; undefined for a free model (revenue 0: every request is a cost). */
  marginPercent: number | undefined;
  /** The same for a batch request, at the tier's batch discount; undefined where batch is not sold. */
  batchMarginPercent: number | undefined;
}

function marginOf(revenue: number, cost: number): number | undefined {
  return revenue > 0 ? ((revenue - cost) / revenue) * 100 : undefined;
}

export function tierMargins(config: TierlineConfig, inputs: CostInputs): TierModelMargin[] {
  const { inputTokens, outputTokens } = inputs.typicalRequest;
  const typical: Usage = { requests: 1, inputTokens, outputTokens };
  return TIER_NAMES.flatMap((tier) =>
    Object.entries(config.tiers[tier].models).flatMap(([model, offer]) => {
      if (!inputs.models[model]) return [];
      const gpu = modelGpuCost(config, inputs, model);
      const cost = usageCost(config, inputs, model, typical);
      const revenue =
        (inputTokens * offer.inputUsdPerMillion + outputTokens * offer.outputUsdPerMillion) /
        MILLION;
      const { batch } = config.tiers[tier];
      const batchRevenue = revenue * (1 - batch.discountPercent / 100);
      return [
        {
          tier,
          model,
          priceInputUsdPerMillion: offer.inputUsdPerMillion,
          priceOutputUsdPerMillion: offer.outputUsdPerMillion,
          costInputUsdPerMillion: gpu.inputUsdPerMillion,
          costOutputUsdPerMillion: gpu.outputUsdPerMillion,
          requestRevenueUsd: revenue,
          requestCostUsd: cost.total,
          requestGatewayCostUsd: cost.gateway.total,
          breakEvenOutputTokensPerSecondPerCopy:
            offer.outputUsdPerMillion > 0
              ? (gpu.copyHourUsd /
                  SECONDS_PER_HOUR /
                  inputs.gpuUtilization /
                  offer.outputUsdPerMillion) *
                MILLION
              : undefined,
          marginPercent: marginOf(revenue, cost.total),
          // Batch lines skip API Gateway and the authorizer, but this model charges them anyway:
          // conservative.
          batchMarginPercent: batch.allowed ? marginOf(batchRevenue, cost.total) : undefined,
        },
      ];
    }),
  );
}

/** The most one Free customer can cost in a month, model by model, at the tier's limits. */
export interface FreeWorstCase {
  models: Array<{
    model: string;
    requestsPerDay: number;
    tokensPerDay: number;
    monthlyUsd: number;
  }>;
  /** Requests per day the edge quota allows over all models (undefined: no quota, or pooled keys). */
  edgeQuotaPerDay: number | undefined;
  monthlyUsd: number;
}

/**
 * Every model used to its TPD, every token an output token (the dearer kind), and as many requests
 * as RPD and the usage plan's daily quota allow (the quota is shared by all models, so it is split
 * in proportion to RPD). A new Free account on a pooled tier has no quota of its own: RPD alone.
 */
export function freeTierWorstCase(config: TierlineConfig, inputs: CostInputs): FreeWorstCase {
  const tier = config.tiers.free;
  const offers = Object.entries(tier.models).filter(([model]) => inputs.models[model]);
  const totalRpd = offers.reduce((sum, [, offer]) => sum + offer.rpd, 0);
  // A pooled tier's accounts meet the edge on shared keys whose plan has no quota: their requests
  // are capped by each model's RPD alone (exact, in DynamoDB).
  const quota = tier.edgePool ? undefined : tier.edge.quota;
  const quotaPerDay = quota
    ? quota.limit / { DAY: 1, WEEK: 7, MONTH: inputs.daysPerMonth }[quota.period]
    : undefined;
  const scale = quotaPerDay !== undefined && totalRpd > quotaPerDay ? quotaPerDay / totalRpd : 1;
  const models = offers.map(([model, offer]) => {
    const requestsPerDay = offer.rpd * scale;
    const daily = usageCost(config, inputs, model, {
      requests: requestsPerDay,
      inputTokens: 0,
      outputTokens: offer.tpd,
    });
    return {
      model,
      requestsPerDay,
      tokensPerDay: offer.tpd,
      monthlyUsd: daily.total * inputs.daysPerMonth,
    };
  });
  return {
    models,
    edgeQuotaPerDay: quotaPerDay,
    monthlyUsd: models.reduce((sum, m) => sum + m.monthlyUsd, 0),
  };
}

/** Fixed monthly cost of the resources a deployment keeps whether or not anyone calls it. */
export interface IdleCost {
  environment: string;
  gpu: Array<{ model: string; instanceType: string; instances: number; monthlyUsd: number }>;
  kmsKeys: number;
  alarms: number;
  /** The chat function's Managed Instances kept while idle (0 on per-invocation Lambda) and their cost. */
  chatInstances: number;
  chatInstancesMonthlyUsd: number;
  /** Interface VPC endpoints x the AZs they are in, and their cost. */
  interfaceEndpointAzs: number;
  interfaceEndpointsMonthlyUsd: number;
  /** AWS WAF web ACLs and their rules (environment.requestSizeGuard), and their monthly fees. */
  wafWebAcls: number;
  wafRules: number;
  wafMonthlyUsd: number;
  monthlyUsd: number;
}

/** Resources counted in the synthesized templates of the environment. */
export interface FixedResources {
  kmsKeys: number;
  alarms: number;
  interfaceEndpointAzs: number;
  wafWebAcls: number;
  wafRules: number;
}

export function idleCost(
  config: TierlineConfig,
  inputs: CostInputs,
  resources: FixedResources,
): IdleCost {
  const scaleToZero = config.environment.inference.scaleToZero;
  // Chat and speech models alike: one endpoint each, shaped the same (model-endpoint.ts,
  // speech-endpoint.ts): min 0 instances with scale to zero, else at least 1, and a speech model
  // that translates keeps a GPU for each of its two components.
  const endpoints = [
    ...Object.entries(config.models).map(([model, m]) => ({ model, m, leastInstances: 1 })),
    ...Object.entries(config.speechModels).map(([model, m]) => ({
      model,
      m,
      leastInstances: speechInstancesForOneCopyEach(m),
    })),
  ];
  const gpu = endpoints.map(({ model, m, leastInstances }) => {
    const instances = scaleToZero ? 0 : Math.max(leastInstances, m.instanceCount.min);
    const hourly = inputs.prices.sagemakerInstanceHour[m.instanceType]?.value;
    if (hourly === undefined && instances > 0) {
      throw new MissingCostInput(
        `no price for ${m.instanceType} in lib/costs/inputs.ts (prices.sagemakerInstanceHour)`,
      );
    }
    return {
      model,
      instanceType: m.instanceType,
      instances,
      monthlyUsd: instances * (hourly ?? 0) * inputs.hoursPerMonth,
    };
  });
  const mi = inputs.managedInstances;
  const chatInstances =
    config.environment.chatCompute.kind === 'managed-instances' ? mi.minInstances : 0;
  const chatInstancesMonthlyUsd =
    chatInstances *
    mi.ec2InstanceHour.value *
    (1 + mi.managementFeePercent.value / 100) *
    inputs.hoursPerMonth;
  const interfaceEndpointsMonthlyUsd =
    resources.interfaceEndpointAzs *
    inputs.prices.vpcInterfaceEndpointHourPerAz.value *
    inputs.hoursPerMonth;
  const wafMonthlyUsd =
    resources.wafWebAcls * inputs.prices.wafWebAclMonth.value +
    resources.wafRules * inputs.prices.wafRuleMonth.value;
  const fixed =
    wafMonthlyUsd +
    resources.kmsKeys * inputs.prices.kmsKeyMonth.value +
    resources.alarms * inputs.prices.cloudWatchAlarmMonth.value +
    chatInstancesMonthlyUsd +
    interfaceEndpointsMonthlyUsd;
  return {
    environment: config.environment.name,
    gpu,
    kmsKeys: resources.kmsKeys,
    alarms: resources.alarms,
    chatInstances,
    chatInstancesMonthlyUsd,
    interfaceEndpointAzs: resources.interfaceEndpointAzs,
    interfaceEndpointsMonthlyUsd,
    wafWebAcls: resources.wafWebAcls,
    wafRules: resources.wafRules,
    wafMonthlyUsd,
    monthlyUsd: gpu.reduce((sum, g) => sum + g.monthlyUsd, 0) + fixed,
  };
}

/** The chat function's compute at one monthly volume: per-invocation Lambda against Lambda Managed Instances. */
export interface ChatComputeAtVolume {
  requestsPerMonth: number;
  lambdaUsd: number;
  managedInstancesUsd: number;
  managedInstances: number;
}

export interface ChatComputeComparison {
  model: string;
  /** What one request costs on per-invocation Lambda (duration of the whole stream x memory, plus the request). */
  lambdaUsdPerRequest: number;
  /** Requests a month above which Managed Instances cost less (undefined: never, at these inputs). */
  crossoverRequestsPerMonth: number | undefined;
  volumes: ChatComputeAtVolume[];
}

/**
 * Where the chat function on Managed Instances overtakes per-invocation Lambda. A Lambda invocation
 * bills its memory for the whole stream, idle while the GPU generates; a Managed Instances
 * environment serves many streams at once and bills the instance, so its cost follows the CPU the
 * streams use, with a floor of `minInstances`.
 */
export function chatComputeComparison(
  inputs: CostInputs,
  model: string,
  volumes: readonly number[],
): ChatComputeComparison {
  const throughput = inputs.models[model];
  if (!throughput)
    throw new MissingCostInput(`no throughput for "${model}" in lib/costs/inputs.ts (models)`);
  const { prices, request, managedInstances: mi } = inputs;
  const streamSeconds =
    (throughput.timeToFirstTokenMs + request.chatOverheadMs) / 1000 +
    inputs.typicalRequest.outputTokens / throughput.decodeTokensPerSecondPerStream;
  const perRequestCharge = prices.lambdaPerMillionRequests.value / MILLION;
  const { inputTokens, outputTokens } = inputs.typicalRequest;
  const lambdaUsdPerRequest = gatewayCost(inputs, throughput, {
    requests: 1,
    inputTokens,
    outputTokens,
  }).chatFunction;
  const instanceHourUsd = mi.ec2InstanceHour.value * (1 + mi.managementFeePercent.value / 100);
  const secondsPerMonth = inputs.hoursPerMonth * SECONDS_PER_HOUR;
  // An instance is full when its CPU reaches the scaling target or its environments hold all the
  // streams they take.
  const requestsPerInstanceSecond = Math.min(
    (mi.vCpusPerInstance * mi.targetCpuUtilization * 1000) / mi.cpuMsPerRequest,
    (mi.vCpusPerInstance * mi.maxConcurrentStreamsPerVCpu) / streamSeconds,
  );
  const managedAt = (requestsPerMonth: number) => {
    const instances = Math.max(
      mi.minInstances,
      Math.ceil(requestsPerMonth / secondsPerMonth / requestsPerInstanceSecond),
    );
    return {
      instances,
      usd: instances * instanceHourUsd * inputs.hoursPerMonth + requestsPerMonth * perRequestCharge,
    };
  };
  // Below the instance floor Managed Instances cost a constant plus the request charge; Lambda
  // grows linearly.
  const floorUsd = mi.minInstances * instanceHourUsd * inputs.hoursPerMonth;
  const lambdaMarginal = lambdaUsdPerRequest - perRequestCharge;
  const crossover = lambdaMarginal > 0 ? floorUsd / lambdaMarginal : undefined;
  // Past the floor, each instance carries requestsPerInstanceSecond: Managed Instances stay cheaper
  // if that marginal cost is below Lambda's.
  const managedMarginal = instanceHourUsd / SECONDS_PER_HOUR / requestsPerInstanceSecond;
  const crossoverRequestsPerMonth =
    crossover !== undefined && managedMarginal < lambdaMarginal ? crossover : undefined;
  return {
    model,
    lambdaUsdPerRequest,
    crossoverRequestsPerMonth,
    volumes: volumes.map((requestsPerMonth) => {
      const managed = managedAt(requestsPerMonth);
      return {
        requestsPerMonth,
        lambdaUsd: requestsPerMonth * lambdaUsdPerRequest,
        managedInstancesUsd: managed.usd,
        managedInstances: managed.instances,
      };
    }),
  };
}

/** The prices of one tier's model that reach a margin, against what the tier charges now. */
export interface MarginPrice {
  tier: TierName;
  model: string;
  currentInputUsdPerMillion: number;
  currentOutputUsdPerMillion: number;
  currentMarginPercent: number;
  inputUsdPerMillion: number;
  outputUsdPerMillion: number;
  /** The typical request's margin at the new prices (at least the target: prices are rounded up to the cent). */
  marginPercent: number;
}

const ceilCents = (usdPerMillion: number) => Math.ceil(usdPerMillion * 100 - 1e-9) / 100;

/**
 * Input and output prices per 1M tokens at which the typical request of each paying tier's model
 * earns `marginPercent`: each token kind carries its GPU cost plus its share (by GPU cost) of the
 * gateway's per-request cost, divided by (1 - margin), rounded up to the cent. Free models stay
 * free: their cost is the Free tier's (see `freeTierWorstCase`).
 */
export function pricesForMargin(
  config: TierlineConfig,
  inputs: CostInputs,
  marginPercent: number,
): MarginPrice[] {
  if (!(marginPercent >= 0 && marginPercent < 100))
    throw new RangeError('the margin must be at least 0 and below 100');
  const { inputTokens, outputTokens } = inputs.typicalRequest;
  const keep = 1 - marginPercent / 100;
  return tierMargins(config, inputs).flatMap((current) => {
    if (current.marginPercent === undefined) return [];
    const gpuIn = (inputTokens * current.costInputUsdPerMillion) / MILLION;
    const gpuOut = (outputTokens * current.costOutputUsdPerMillion) / MILLION;
    const inShare = gpuIn + gpuOut > 0 ? gpuIn / (gpuIn + gpuOut) : 0;
    const gateway = current.requestGatewayCostUsd;
    const inputPrice =
      inputTokens > 0
        ? ceilCents((((gpuIn + gateway * inShare) / inputTokens) * MILLION) / keep)
        : 0;
    const outputPrice = ceilCents(
      (((gpuOut + gateway * (inputTokens > 0 ? 1 - inShare : 1)) / outputTokens) * MILLION) / keep,
    );
    const revenue = (inputTokens * inputPrice + outputTokens * outputPrice) / MILLION;
    return [
      {
        tier: current.tier,
        model: current.model,
        currentInputUsdPerMillion: current.priceInputUsdPerMillion,
        currentOutputUsdPerMillion: current.priceOutputUsdPerMillion,
        currentMarginPercent: current.marginPercent,
        inputUsdPerMillion: inputPrice,
        outputUsdPerMillion: outputPrice,
        marginPercent: marginOf(revenue, current.requestCostUsd) ?? 0,
      },
    ];
  });
}

/** The `-c configFile=` overrides (or `lib/config/defaults.ts` edit) that set those prices. */
export function marginConfigPatch(prices: readonly MarginPrice[]): {
  tiers: Record<
    string,
    { models: Record<string, { inputUsdPerMillion: number; outputUsdPerMillion: number }> }
  >;
} {
  const tiers: ReturnType<typeof marginConfigPatch>['tiers'] = {};
  for (const p of prices) {
    tiers[p.tier] ??= { models: {} };
    (tiers[p.tier] as { models: Record<string, unknown> }).models[p.model] = {
      inputUsdPerMillion: p.inputUsdPerMillion,
      outputUsdPerMillion: p.outputUsdPerMillion,
    };
  }
  return { tiers };
}

/** Paying tiers' models whose typical request costs more than it earns: what `costs` says first. */
export function sellingBelowCost(margins: readonly TierModelMargin[]): TierModelMargin[] {
  return margins.filter((m) => m.marginPercent !== undefined && m.marginPercent < 0);
}
