import { APIGatewayClient } from '@aws-sdk/client-api-gateway';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { ECRClient } from '@aws-sdk/client-ecr';
import { IAMClient } from '@aws-sdk/client-iam';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import { SSMClient } from '@aws-sdk/client-ssm';
import { STSClient } from '@aws-sdk/client-sts';
import type { Command } from 'commander';
import { ConfigError, loadConfig, readConfigFile } from '../../lib/config/load';
import { OperatorError } from '../operator-errors';
import { type DoctorClients, formatDoctorReport, runDoctor } from './doctor';

export interface DoctorCommandDependencies {
  out: (text: string) => void;
  /** The clients in a region. @default the AWS SDK's, with your credentials as they are, and global fetch */
  doctorClients?: (region: string) => DoctorClients;
  /** The region when `--region` is not given. @default AWS_REGION, then your AWS profile's */
  defaultRegion?: () => Promise<{ name: string; source: string } | undefined>;
}

/** A doctor waits for no call long: a hung endpoint is a finding, not a reason to hang. */
const clientOptions = (region: string) => ({
  region,
  maxAttempts: 3,
  requestHandler: { connectionTimeout: 5_000, requestTimeout: 20_000 },
});

export function defaultDoctorClients(region: string): DoctorClients {
  const options = clientOptions(region);
  return {
    sts: new STSClient(options),
    cloudFormation: new CloudFormationClient(options),
    ssm: new SSMClient(options),
    serviceQuotas: new ServiceQuotasClient(options),
    s3: new S3Client(options),
    ecr: new ECRClient(options),
    apiGateway: new APIGatewayClient(options),
    // IAM is global; the SDK signs for us-east-1 whatever region it is given.
    iam: new IAMClient(options),
    lambda: new LambdaClient(options),
    secretsManager: new SecretsManagerClient(options),
    fetch: globalThis.fetch,
  };
}

/**
 * The region `cdk deploy` would use, in the CDK CLI's order (aws-cdk 2.1148, "Unable to determine
 * AWS region"): AWS_REGION, AMAZON_REGION, AWS_DEFAULT_REGION, AMAZON_DEFAULT_REGION, then the
 * profile's `region`. Where none is set the CDK CLI falls back to us-east-1 with only a debug
 * message; here that is a FAIL.
 */
export async function sdkDefaultRegion(): Promise<{ name: string; source: string } | undefined> {
  for (const variable of [
    'AWS_REGION',
    'AMAZON_REGION',
    'AWS_DEFAULT_REGION',
    'AMAZON_DEFAULT_REGION',
  ]) {
    const name = process.env[variable];
    if (name) return { name, source: variable };
  }
  const probe = new STSClient({});
  try {
    const name = await probe.config.region();
    return name
      ? { name, source: `your AWS profile (${process.env.AWS_PROFILE ?? 'default'})` }
      : undefined;
  } catch {
    return undefined; // "Region is missing"
  } finally {
    probe.destroy();
  }
}

/** `tierline doctor`: is this account ready for `cdk deploy` of this config? */
export function addDoctorCommand(program: Command, deps: DoctorCommandDependencies): void {
  program
    .command('doctor')
    .description(
      'before a deploy: check the account for the selected config (region, CDK bootstrap, SageMaker quotas, ' +
        "model weights, container images, API Gateway's logging role); exit 1 on any FAIL",
    )
    .option('--config-file <path>', 'JSON overrides, as given to cdk with -c configFile=')
    .option('--strict', 'exit 1 on warnings too')
    .action(async (options: { configFile?: string; strict?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<{ env: string; region?: string; json?: boolean }>();
      let config: ReturnType<typeof loadConfig>;
      try {
        const overrides = options.configFile ? readConfigFile(options.configFile) : undefined;
        config = loadConfig({ env: globals.env, overrides, overridesSource: options.configFile });
      } catch (error) {
        if (error instanceof ConfigError) throw new OperatorError(error.message, 'invalid_input');
        throw error;
      }
      const region = globals.region
        ? { name: globals.region, source: '--region' }
        : await (deps.defaultRegion ?? sdkDefaultRegion)();
      const report = await runDoctor({
        config,
        region,
        clients: deps.doctorClients ?? defaultDoctorClients,
      });
      deps.out(globals.json ? JSON.stringify(report, null, 2) : formatDoctorReport(report));
      const { fail, warn } = report.summary;
      if (fail > 0 || (options.strict && warn > 0)) {
        throw new OperatorError(
          `doctor: ${fail} check(s) failed${options.strict ? `, ${warn} warned` : ''}; see the fixes above.`,
          'failed',
        );
      }
    });
}
