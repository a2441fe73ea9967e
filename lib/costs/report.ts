import type { TierlineConfig } from '../config/schema';
import type { CostInputs } from './inputs';
import {
  type ChatComputeComparison,
  chatComputeComparison,
  type FixedResources,
  type FreeWorstCase,
  freeTierWorstCase,
  gatewayCost,
  type IdleCost,
  idleCost,
  type MarginPrice,
  MissingCostInput,
  type ModelGpuCost,
  marginConfigPatch,
  modelGpuCost,
  pricesForMargin,
  sellingBelowCost,
  type TierModelMargin,
  tierMargins,
} from './model';

/** Everything `npx tierline costs` prints, as data (`--json`) and as text. */
export interface CostReport {
  environment: string;
  region: string;
  pricesReadOn: string[];
  gpuUtilization: number;
  typicalRequest: CostInputs['typicalRequest'];
  models: ModelGpuCost[];
  /** Models of the catalog the report leaves out, and why. */
  missing: Array<{ model: string; reason: string }>;
  /** Non-GPU cost of one typical request, per model (the "gateway" next to the GPU). */
  gatewayPerRequest: Array<{ model: string; usd: number; shareOfRequestCostPercent: number }>;
  tiers: TierModelMargin[];
  freeWorstCase: FreeWorstCase;
  idle: IdleCost;
  /** The chat function on per-invocation Lambda against Lambda Managed Instances, per model. */
  chatCompute: ChatComputeComparison[];
  estimates: string[];
  /** With `--margin`: the prices per paying tier that reach it, and the config overrides that set them. */
  margin?: { percent: number; prices: MarginPrice[]; patch: ReturnType<typeof marginConfigPatch> };
}

export function buildCostReport(
  config: TierlineConfig,
  inputs: CostInputs,
  resources: FixedResources,
  options: { marginPercent?: number } = {},
): CostReport {
  const models: ModelGpuCost[] = [];
  const missing: CostReport['missing'] = [];
  for (const model of Object.keys(config.models)) {
    try {
      models.push(modelGpuCost(config, inputs, model));
    } catch (error) {
      if (!(error instanceof MissingCostInput)) throw error;
      missing.push({ model, reason: error.message });
    }
  }
  const { inputTokens, outputTokens } = inputs.typicalRequest;
  const gatewayPerRequest = models.map((m) => {
    const gateway = gatewayCost(
      inputs,
      m.throughput,
      { requests: 1, inputTokens, outputTokens },
      { requestSizeGuard: config.environment.requestSizeGuard },
    ).total;
    const gpu =
      (inputTokens * m.inputUsdPerMillion + outputTokens * m.outputUsdPerMillion) / 1_000_000;
    return {
      model: m.model,
      usd: gateway,
      shareOfRequestCostPercent: (gateway / (gateway + gpu)) * 100,
    };
  });
  const readOn = new Set<string>();
  for (const price of Object.values(inputs.prices)) {
    if ('readOn' in price) readOn.add(price.readOn as string);
    else for (const p of Object.values(price)) readOn.add((p as { readOn: string }).readOn);
  }
  return {
    environment: config.environment.name,
    region: inputs.region,
    pricesReadOn: [...readOn].sort(),
    gpuUtilization: inputs.gpuUtilization,
    typicalRequest: inputs.typicalRequest,
    models,
    missing,
    gatewayPerRequest,
    tiers: tierMargins(config, inputs),
    freeWorstCase: freeTierWorstCase(config, inputs),
    idle: idleCost(config, inputs, resources),
    chatCompute: models.map((m) => chatComputeComparison(inputs, m.model, CHAT_COMPUTE_VOLUMES)),
    estimates: models.filter((m) => m.throughput.kind === 'estimate').map((m) => m.model),
    ...(options.marginPercent !== undefined
      ? (() => {
          const prices = pricesForMargin(config, inputs, options.marginPercent);
          return {
            margin: { percent: options.marginPercent, prices, patch: marginConfigPatch(prices) },
          };
        })()
      : {}),
  };
}

/** Monthly chat completions the compute comparison is printed for. */
const CHAT_COMPUTE_VOLUMES = [1e6, 1e7, 1e8, 1e9];

const usd = (value: number, digits = 2) => `$${value.toFixed(digits)}`;
const small = (value: number) => (value >= 0.01 ? usd(value, 4) : `$${value.toPrecision(3)}`);
const percent = (value: number | undefined) => (value === undefined ? '-' : `${value.toFixed(0)}%`);

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** Per-invocation Lambda against Managed Instances for the chat function; none without figures. */
function chatComputeSection(report: CostReport): string[] {
  const mi = report.chatCompute[0];
  if (!mi) return [];
  return [
    '',
    'Chat function compute per month: per-invocation Lambda (billed for the whole stream) against Lambda Managed',
    'Instances (billed per instance, many streams per environment, 3 instances at least)',
    table(
      [
        'model',
        'Lambda $/request',
        ...mi.volumes.map((v) => `${v.requestsPerMonth.toExponential(0)} req: Lambda / MI`),
        'MI cheaper above',
      ],
      report.chatCompute.map((c) => [
        c.model,
        small(c.lambdaUsdPerRequest),
        ...c.volumes.map((v) => `${usd(v.lambdaUsd, 0)} / ${usd(v.managedInstancesUsd, 0)}`),
        c.crossoverRequestsPerMonth === undefined
          ? 'never'
          : `${(c.crossoverRequestsPerMonth / 1e6).toFixed(1)}M req/month`,
      ]),
    ),
  ];
}

/** The prices that reach the asked margin, and the config patch that sets them. */
function marginSection(report: CostReport): string[] {
  if (!report.margin) return [];
  return [
    '',
    `Prices that reach a ${report.margin.percent}% margin on the typical request (rounded up to the cent)`,
    table(
      [
        'tier',
        'model',
        'now in/out $/1M',
        'margin now',
        `for ${report.margin.percent}%: in/out $/1M`,
        'margin',
      ],
      report.margin.prices.map((p) => [
        p.tier,
        p.model,
        `${usd(p.currentInputUsdPerMillion)} / ${usd(p.currentOutputUsdPerMillion)}`,
        percent(p.currentMarginPercent),
        `${usd(p.inputUsdPerMillion)} / ${usd(p.outputUsdPerMillion)}`,
        percent(p.marginPercent),
      ]),
    ),
    'Config patch (save as margin.json and deploy with `-c configFile=margin.json`, or copy into lib/config/defaults.ts):',
    JSON.stringify(report.margin.patch, null, 2),
  ];
}

/** What the idle cost holds besides the GPU: KMS keys, alarms, Managed Instances, WAF. */
function idleExtras(idle: CostReport['idle']): string {
  const parts = [`${idle.kmsKeys} KMS keys and ${idle.alarms} alarms`];
  if (idle.chatInstances > 0) {
    parts.push(
      `${idle.chatInstances} Managed Instances for the chat function (${usd(idle.chatInstancesMonthlyUsd)})` +
        ` and ${idle.interfaceEndpointAzs} interface-endpoint AZs (${usd(idle.interfaceEndpointsMonthlyUsd)})`,
    );
  }
  if (idle.wafWebAcls > 0) {
    parts.push(
      `${idle.wafWebAcls} WAF web ACL with ${idle.wafRules} rules (${usd(idle.wafMonthlyUsd)})`,
    );
  }
  return parts.join(', ');
}

/** The report as a person reads it. */
export function formatCostReport(report: CostReport): string {
  const { inputTokens, outputTokens } = report.typicalRequest;
  const belowCost = sellingBelowCost(report.tiers);
  const sections = [
    // First: a price below cost is the one thing an operator must not miss.
    belowCost.length > 0
      ? `WARNING: these prices sell below cost: ${belowCost
          .map((t) => `${t.tier} ${t.model} (margin ${percent(t.marginPercent)})`)
          .join(', ')}. Run \`npx tierline costs --margin 40\` for prices that do not.`
      : 'No paying tier sells below cost at these inputs.',
    `Tierline costs, environment "${report.environment}", ${report.region}, list prices read ${report.pricesReadOn.join(', ')}`,
    `GPU utilization ${(report.gpuUtilization * 100).toFixed(0)}%; typical request ${inputTokens} input + ${outputTokens} output tokens.`,
    '',
    'GPU cost per model (per 1M tokens, at that utilization)',
    table(
      [
        'model',
        'instance',
        '$/hour',
        'copies',
        'streams',
        'out tok/s',
        'input $/1M',
        'output $/1M',
        'throughput',
      ],
      report.models.map((m) => [
        m.model,
        m.instanceType,
        usd(m.instanceHourUsd, 3),
        String(m.copiesPerInstance),
        String(m.concurrencyPerCopy),
        String(m.outputTokensPerSecondPerCopy),
        usd(m.inputUsdPerMillion, 3),
        usd(m.outputUsdPerMillion, 3),
        m.throughput.kind,
      ]),
    ),
    '',
    'Gateway cost per typical request (API Gateway, authorizer, chat function, DynamoDB, logs, X-Ray)',
    table(
      ['model', 'per request', 'per 1M requests', 'share of request cost'],
      report.gatewayPerRequest.map((g) => [
        g.model,
        small(g.usd),
        usd(g.usd * 1_000_000),
        `${g.shareOfRequestCostPercent.toFixed(1)}%`,
      ]),
    ),
    '',
    'Price against cost, per tier (margin of the typical request; batch at the tier discount; break-even: output\n' +
      'tokens/s one copy must deliver, all streams together, for its GPU time to cost what an output token sells for)',
    table(
      [
        'tier',
        'model',
        'price in/out $/1M',
        'GPU in/out $/1M',
        'revenue',
        'cost',
        'margin',
        'batch',
        'break-even out tok/s',
      ],
      report.tiers.map((t) => [
        t.tier,
        t.model,
        `${usd(t.priceInputUsdPerMillion)} / ${usd(t.priceOutputUsdPerMillion)}`,
        `${usd(t.costInputUsdPerMillion, 3)} / ${usd(t.costOutputUsdPerMillion, 3)}`,
        small(t.requestRevenueUsd),
        small(t.requestCostUsd),
        percent(t.marginPercent),
        percent(t.batchMarginPercent),
        t.breakEvenOutputTokensPerSecondPerCopy === undefined
          ? '-'
          : t.breakEvenOutputTokensPerSecondPerCopy.toFixed(0),
      ]),
    ),
    '',
    `The most one Free customer can cost per month (every model at its TPD, all output tokens${
      report.freeWorstCase.edgeQuotaPerDay !== undefined
        ? `, requests capped by the ${report.freeWorstCase.edgeQuotaPerDay}/day usage-plan quota`
        : ", requests capped by each model's RPD"
    })`,
    table(
      ['model', 'requests/day', 'tokens/day', 'per month'],
      report.freeWorstCase.models.map((m) => [
        m.model,
        m.requestsPerDay.toFixed(0),
        String(m.tokensPerDay),
        usd(m.monthlyUsd),
      ]),
    ),
    `total: ${usd(report.freeWorstCase.monthlyUsd)} per Free customer per month`,
    '',
    `Idle cost of "${report.idle.environment}" per month (no traffic)`,
    table(
      ['model', 'instance', 'instances kept', 'per month'],
      report.idle.gpu.map((g) => [g.model, g.instanceType, String(g.instances), usd(g.monthlyUsd)]),
    ),
    `plus ${idleExtras(report.idle)}; total ${usd(report.idle.monthlyUsd)} per month`,
  ];
  sections.push(...chatComputeSection(report), ...marginSection(report));
  if (report.missing.length > 0) {
    sections.push('', 'Left out:', ...report.missing.map((m) => `  ${m.model}: ${m.reason}`));
  }
  if (report.estimates.length > 0) {
    sections.push(
      '',
      `Throughput of ${report.estimates.join(', ')} is an estimate, not a measurement: measure your endpoints and ` +
        'set it in lib/costs/inputs.ts before trusting these margins.',
    );
  }
  return sections.join('\n');
}
