import type { APIGatewayClient } from '@aws-sdk/client-api-gateway';
import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import type { ECRClient } from '@aws-sdk/client-ecr';
import type { IAMClient } from '@aws-sdk/client-iam';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { GetCallerIdentityCommand, type STSClient } from '@aws-sdk/client-sts';
import type { TierlineConfig } from '../../lib/config/schema';
import { errorName } from '../operator-errors';
import {
  apiGatewayLoggingRoleCheck,
  cdkBootstrapCheck,
  lambdaConcurrencyCheck,
} from './account-checks';
import { containerImageChecks, modelWeightsChecks } from './artifact-checks';
import { instanceQuotaChecks } from './quota-checks';

/** `ok`: nothing to do; `warn`: deploys, but something will bite later or could not be checked; `fail`: fix first. */
export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  /** The kind of check (`region`, `credentials`, `cdk-bootstrap`, `endpoint-quota`, ...). */
  check: string;
  /** What it was about: an instance type, a model, an image. */
  subject?: string;
  status: CheckStatus;
  message: string;
  /** What to do about a `warn` or `fail`. */
  fix?: string;
}

/** One client per AWS service the checks call, all in the deploy region, and `fetch` for Hugging Face. */
export interface DoctorClients {
  sts: STSClient;
  cloudFormation: CloudFormationClient;
  ssm: SSMClient;
  serviceQuotas: ServiceQuotasClient;
  s3: S3Client;
  ecr: ECRClient;
  apiGateway: APIGatewayClient;
  iam: IAMClient;
  lambda: LambdaClient;
  secretsManager: SecretsManagerClient;
  fetch: typeof fetch;
}

export interface DoctorInput {
  config: TierlineConfig;
  /** The deploy region, and where it came from (for the report); undefined when none is configured. */
  region?: { name: string; source: string };
  /** Built once the region is known. */
  clients: (region: string) => DoctorClients;
}

export interface DoctorReport {
  env: string;
  region: string | null;
  account: string | null;
  principal: string | null;
  checks: CheckResult[];
  summary: Record<CheckStatus, number>;
}

/** What each check needs: the config, the region, the account, the clients. */
export interface CheckContext {
  config: TierlineConfig;
  region: string;
  account: string;
  clients: DoctorClients;
}

/** Errors that mean "this principal may not ask", across the services the checks call. */
export function isAccessDenied(error: unknown): boolean {
  const name = errorName(error) ?? '';
  return /AccessDenied|Forbidden|UnauthorizedOperation|NotAuthorized/i.test(name);
}

export function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

function summarize(checks: CheckResult[]): Record<CheckStatus, number> {
  const summary: Record<CheckStatus, number> = { ok: 0, warn: 0, fail: 0 };
  for (const check of checks) summary[check.status] += 1;
  return summary;
}

/**
 * Checks an account before `cdk deploy`: region, credentials, CDK bootstrap, SageMaker instance
 * quotas, model weights, container images, API Gateway's logging role. Every check runs (one
 * failure does not hide the next) except after missing credentials or region, where no AWS call can
 * be made.
 */
export async function runDoctor(input: DoctorInput): Promise<DoctorReport> {
  const { config } = input;
  const env = config.environment.name;
  const checks: CheckResult[] = [];
  const report = (
    account: string | null = null,
    principal: string | null = null,
  ): DoctorReport => ({
    env,
    region: input.region?.name ?? null,
    account,
    principal,
    checks,
    summary: summarize(checks),
  });

  if (!input.region) {
    checks.push({
      check: 'region',
      status: 'fail',
      message: 'No AWS region configured: the stacks would fall back to a region nobody chose.',
      fix: 'Pass --region REGION, or set AWS_REGION, or a region in your AWS profile (aws configure).',
    });
    return report();
  }
  const region = input.region.name;
  checks.push({
    check: 'region',
    status: 'ok',
    message: `${region} (from ${input.region.source})`,
  });

  const clients = input.clients(region);
  let account: string;
  let principal: string | null = null;
  try {
    const identity = await clients.sts.send(new GetCallerIdentityCommand({}));
    account = identity.Account ?? '';
    principal = identity.Arn ?? null;
    checks.push({
      check: 'credentials',
      status: 'ok',
      message: `account ${account} as ${principal ?? 'unknown'}`,
    });
  } catch (error) {
    checks.push({
      check: 'credentials',
      status: 'fail',
      message: `No usable AWS credentials (${describeError(error)}).`,
      fix: 'Sign in (aws sso login, or AWS_PROFILE / AWS_ACCESS_KEY_ID) to the account you deploy to, then re-run.',
    });
    return report();
  }

  const context: CheckContext = { config, region, account, clients };
  // Independent checks in parallel: each catches its own errors, so one never hides another.
  const groups = await Promise.all([
    cdkBootstrapCheck(context),
    instanceQuotaChecks(context),
    modelWeightsChecks(context),
    containerImageChecks(context),
    apiGatewayLoggingRoleCheck(context),
    lambdaConcurrencyCheck(context),
  ]);
  checks.push(...groups.flat());
  return report(account, principal);
}

const LABEL: Record<CheckStatus, string> = { ok: 'OK  ', warn: 'WARN', fail: 'FAIL' };

/** The report a person reads: one line per check, its fix indented under it, a summary last. */
export function formatDoctorReport(report: DoctorReport): string {
  const lines = [
    `Tierline doctor: environment ${report.env}, region ${report.region ?? '(none)'}, account ${report.account ?? '(unknown)'}`,
    '',
  ];
  for (const check of report.checks) {
    const what = check.subject ? `${check.check} ${check.subject}` : check.check;
    lines.push(`${LABEL[check.status]}  ${what}: ${check.message}`);
    if (check.fix && check.status !== 'ok') lines.push(`      fix: ${check.fix}`);
  }
  const { ok, warn, fail } = report.summary;
  lines.push('');
  lines.push(
    `${ok} OK, ${warn} warning${warn === 1 ? '' : 's'}, ${fail} failure${fail === 1 ? '' : 's'}.` +
      (fail > 0
        ? ' Fix the failures before `cdk deploy`.'
        : warn > 0
          ? ' It can deploy; read the warnings.'
          : ' Ready to deploy.'),
  );
  return lines.join('\n');
}
