import {
  ListAWSDefaultServiceQuotasCommand,
  ListServiceQuotasCommand,
  type ServiceQuota,
} from '@aws-sdk/client-service-quotas';
import type { TierlineConfig } from '../../lib/config/schema';
import { type CheckContext, type CheckResult, describeError, isAccessDenied } from './doctor';

/**
 * SageMaker's instance quotas are named "<instance type> for endpoint usage" and "<instance type>
 * for training job usage": the names SageMaker itself quotes when it refuses
 * (ResourceLimitExceeded: "The account-level service limit 'ml.g5.2xlarge for endpoint usage' is 0
 * Instances..."), and the names in Service Quotas' SageMaker list
 * (https://docs.aws.amazon.com/general/latest/gr/sagemaker.html). Most GPU types start at 0.
 */
export const endpointQuotaName = (instanceType: string) => `${instanceType} for endpoint usage`;
/**
 * Managed spot training jobs count against a quota of their own, "<type> for spot training job
 * usage" (same page), which also starts at 0 for most GPU types: with
 * `fineTuning.training.spot.enabled` that is the one a job needs.
 */
export const trainingQuotaName = (instanceType: string, spot = false) =>
  `${instanceType} for ${spot ? 'spot training' : 'training'} job usage`;

/** Instances the config asks for per endpoint instance type: at deploy (initial) and at most (autoscaling). */
export interface EndpointNeed {
  instanceType: string;
  initial: number;
  max: number;
  models: string[];
}

/**
 * What the config needs of each instance type. Every model has its own endpoint: its initial
 * instance count is `max(1, instanceCount.min)` (lib/constructs/inference/model-endpoint.ts) and it
 * may scale to `instanceCount.max`; endpoints of one type count against one quota together.
 */
export function instanceNeeds(config: TierlineConfig): {
  endpoints: EndpointNeed[];
  training: string[];
} {
  const endpoints = new Map<string, EndpointNeed>();
  const training = new Set<string>();
  for (const [modelId, model] of Object.entries(config.models)) {
    const need = endpoints.get(model.instanceType) ?? {
      instanceType: model.instanceType,
      initial: 0,
      max: 0,
      models: [],
    };
    need.initial += Math.max(1, model.instanceCount.min);
    need.max += model.instanceCount.max;
    need.models.push(modelId);
    endpoints.set(model.instanceType, need);
    if (model.trainingInstanceType) training.add(model.trainingInstanceType);
  }
  return { endpoints: [...endpoints.values()], training: [...training] };
}

/** All pages of one listing (the API returns at most 100 quotas a page). */
async function listAll(
  send: (token: string | undefined) => Promise<{ Quotas?: ServiceQuota[]; NextToken?: string }>,
): Promise<ServiceQuota[]> {
  const quotas: ServiceQuota[] = [];
  let token: string | undefined;
  do {
    const page = await send(token);
    quotas.push(...(page.Quotas ?? []));
    token = page.NextToken;
  } while (token);
  return quotas;
}

/**
 * The quotas named `names`, as applied to the account. ListServiceQuotas leaves out a quota whose
 * applied value is not available (still the default: "If the applied quota value is not available
 * for a quota, the quota is not retrieved", API reference of ListServiceQuotas), so those are read
 * from ListAWSDefaultServiceQuotas.
 */
export async function sagemakerQuotas(
  { clients }: Pick<CheckContext, 'clients'>,
  names: string[],
): Promise<Map<string, ServiceQuota>> {
  const wanted = new Set(names);
  const found = new Map<string, ServiceQuota>();
  const keep = (quotas: ServiceQuota[]) => {
    for (const quota of quotas) {
      if (quota.QuotaName && wanted.has(quota.QuotaName) && !found.has(quota.QuotaName))
        found.set(quota.QuotaName, quota);
    }
  };
  keep(
    await listAll((NextToken) =>
      clients.serviceQuotas.send(
        new ListServiceQuotasCommand({ ServiceCode: 'sagemaker', MaxResults: 100, NextToken }),
      ),
    ),
  );
  if (found.size < wanted.size) {
    keep(
      await listAll((NextToken) =>
        clients.serviceQuotas.send(
          new ListAWSDefaultServiceQuotasCommand({
            ServiceCode: 'sagemaker',
            MaxResults: 100,
            NextToken,
          }),
        ),
      ),
    );
  }
  return found;
}

function increase(quota: ServiceQuota, desired: number, region: string): string {
  return (
    `Request ${desired} in Service Quotas (SageMaker, "${quota.QuotaName}"): aws service-quotas ` +
    `request-service-quota-increase --service-code sagemaker --quota-code ${quota.QuotaCode} ` +
    `--desired-value ${desired} --region ${region}`
  );
}

/** Each endpoint and training instance type the config uses has a SageMaker quota that covers it. */
export async function instanceQuotaChecks(context: CheckContext): Promise<CheckResult[]> {
  const { config, region } = context;
  const needs = instanceNeeds(config);
  const spot = config.fineTuning.training.spot.enabled;
  const names = [
    ...needs.endpoints.map((n) => endpointQuotaName(n.instanceType)),
    ...needs.training.map((type) => trainingQuotaName(type, spot)),
  ];
  let quotas: Map<string, ServiceQuota>;
  try {
    quotas = await sagemakerQuotas(context, names);
  } catch (error) {
    return [
      {
        check: 'sagemaker-quotas',
        status: 'warn',
        message: `Could not read SageMaker quotas (${describeError(error)}).`,
        fix: isAccessDenied(error)
          ? 'Allow servicequotas:ListServiceQuotas and ListAWSDefaultServiceQuotas, or check in the Service Quotas console: ' +
            names.map((n) => `"${n}"`).join(', ')
          : 'Retry; or check in the Service Quotas console.',
      },
    ];
  }
  const missing = (instanceType: string, name: string): CheckResult => ({
    check: name.endsWith('endpoint usage') ? 'endpoint-quota' : 'training-quota',
    subject: instanceType,
    status: 'fail',
    message: `SageMaker has no quota "${name}" in ${region}: the instance type is not offered here.`,
    fix: 'Choose another instance type in the config, or a region that offers it.',
  });

  const results: CheckResult[] = [];
  for (const need of needs.endpoints) {
    const name = endpointQuotaName(need.instanceType);
    const quota = quotas.get(name);
    if (!quota) {
      results.push(missing(need.instanceType, name));
      continue;
    }
    const value = quota.Value ?? 0;
    const whose = `models ${need.models.join(', ')}`;
    const base = { check: 'endpoint-quota', subject: need.instanceType };
    if (value < need.initial) {
      results.push({
        ...base,
        status: 'fail',
        message: `Quota ${value}; the deploy starts ${need.initial} instance(s) (${whose}) and may scale to ${need.max}.`,
        fix: increase(quota, need.max, region),
      });
    } else if (value < need.max) {
      results.push({
        ...base,
        status: 'warn',
        message: `Quota ${value}: deploys (${need.initial} at start) but autoscaling stops at ${value} of ${need.max} (${whose}).`,
        fix: increase(quota, need.max, region),
      });
    } else {
      results.push({
        ...base,
        status: 'ok',
        message: `quota ${value} >= ${need.max} at most (${whose}); other endpoints of this type in the account count too`,
      });
    }
  }
  for (const instanceType of needs.training) {
    const name = trainingQuotaName(instanceType, spot);
    const quota = quotas.get(name);
    if (!quota) {
      results.push(missing(instanceType, name));
      continue;
    }
    const value = quota.Value ?? 0;
    results.push(
      value >= 1
        ? {
            check: 'training-quota',
            subject: instanceType,
            status: 'ok',
            message: `quota "${name}" ${value} (one per running job)`,
          }
        : {
            check: 'training-quota',
            subject: instanceType,
            status: 'fail',
            message: `Quota "${name}" ${value}: every fine-tuning job fails with ResourceLimitExceeded.`,
            fix: increase(quota, 1, region),
          },
    );
  }
  return results;
}
