import * as path from 'node:path';
import { Duration, type RemovalPolicy, Validations } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { TierlineConfig } from '../config/schema';

/** Folder of the Lambda entry points. */
export const HANDLERS_DIR = path.join(__dirname, '..', '..', 'lambda', 'handlers');

export interface TierlineFunctionProps {
  /** File name of the entry under `lambda/handlers/`, e.g. `authorizer.ts`. */
  readonly handlerFile: string;
  readonly description: string;
  /** The resolved config, compiled into the bundle so the function enforces exactly what synth validated. */
  readonly config: TierlineConfig;
  readonly logRetention: RetentionDays;
  /** Delete the log group with the stack. */
  readonly removalPolicy: RemovalPolicy;
  /** @default 512 */
  readonly memorySize?: number;
  /** @default Duration.seconds(10) */
  readonly timeout?: Duration;
  /**
   * Concurrent executions guaranteed to this function and its ceiling
   * (`environment.reservedConcurrency`).
   * @default none: the function shares the account's unreserved concurrency
   */
  readonly reservedConcurrentExecutions?: number;
}

/**
 * Every Tierline function is made here: ARM64 (cheaper per GB-second), the latest Node.js runtime,
 * X-Ray tracing, source maps, a log group with retention, and explicit memory and timeout.
 */
export class TierlineFunction extends Construct {
  public readonly function: NodejsFunction;
  public readonly logGroup: LogGroup;
  public readonly role: Role;

  constructor(scope: Construct, id: string, props: TierlineFunctionProps) {
    super(scope, id);
    this.logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    // An own role instead of AWSLambdaBasicExecutionRole: it may write to this function's log group
    // only.
    this.role = new Role(this, 'Role', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
    this.logGroup.grantWrite(this.role);
    this.function = new NodejsFunction(this, 'Function', {
      role: this.role,
      entry: path.join(HANDLERS_DIR, props.handlerFile),
      description: props.description,
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(10),
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      tracing: Tracing.ACTIVE,
      logGroup: this.logGroup,
      environment: { NODE_OPTIONS: '--enable-source-maps' },
      bundling: {
        minify: true,
        sourceMap: true,
        format: OutputFormat.CJS,
        target: 'node22',
        // The AWS SDK is bundled, not taken from the runtime: the code runs on the exact version it
        // is tested against (package.json pins 3.1142.0), whatever copy the runtime ships. Nothing
        // is external.
        externalModules: [],
        // ESM builds first (the SDK and smithy ship `module`): esbuild tree-shakes them, CommonJS
        // it cannot.
        mainFields: ['module', 'main'],
        define: { __TIERLINE_CONFIG__: JSON.stringify(props.config) },
      },
    });
    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
      reason:
        'X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions (added by tracing).',
    });
  }
}
