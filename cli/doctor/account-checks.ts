import { GetAccountCommand } from '@aws-sdk/client-api-gateway';
import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { GetRoleCommand } from '@aws-sdk/client-iam';
import { GetAccountSettingsCommand } from '@aws-sdk/client-lambda';
import { GetParameterCommand } from '@aws-sdk/client-ssm';
import { UNRESERVED_CONCURRENCY } from '../../lib/config/schema';
import { API_GATEWAY_ACCOUNT_STACK_NAME } from '../../lib/stacks/stack-names';
import { errorName } from '../operator-errors';
import { type CheckContext, type CheckResult, describeError, isAccessDenied } from './doctor';

/** The stack `cdk bootstrap` creates (its default name). */
export const TOOLKIT_STACK = 'CDKToolkit';
/**
 * The version parameter of the default bootstrap qualifier `hnb659fds`: every template the default
 * synthesizer writes has a rule (CheckBootstrapVersion) that reads it and refuses a deploy below
 * the minimum.
 */
export const BOOTSTRAP_VERSION_PARAMETER = '/cdk-bootstrap/hnb659fds/version';
/** aws-cdk-lib's DefaultStackSynthesizer MIN_BOOTSTRAP_STACK_VERSION (asset publishing and deploy roles). */
export const MIN_BOOTSTRAP_VERSION = 6;

/** `cdk bootstrap` ran in this account and region, its stack is healthy and new enough for aws-cdk-lib. */
export async function cdkBootstrapCheck({
  clients,
  account,
  region,
}: CheckContext): Promise<CheckResult[]> {
  const check = 'cdk-bootstrap';
  const bootstrap = `npx cdk bootstrap aws://${account}/${region}`;
  try {
    const { Stacks = [] } = await clients.cloudFormation.send(
      new DescribeStacksCommand({ StackName: TOOLKIT_STACK }),
    );
    const status = Stacks[0]?.StackStatus ?? 'UNKNOWN';
    // ROLLBACK_COMPLETE is a failed creation: the stack exists but holds nothing usable.
    if (
      !status.endsWith('_COMPLETE') ||
      status === 'ROLLBACK_COMPLETE' ||
      status.startsWith('DELETE')
    ) {
      return [
        {
          check,
          status: 'fail',
          message: `Stack ${TOOLKIT_STACK} is ${status}.`,
          fix: `Wait for it to settle, or delete it and run ${bootstrap}.`,
        },
      ];
    }
  } catch (error) {
    // CloudFormation answers ValidationError "Stack with id CDKToolkit does not exist".
    if (
      errorName(error) === 'ValidationError' &&
      /does not exist/.test(String((error as Error).message))
    ) {
      return [
        {
          check,
          status: 'fail',
          message: `The account is not bootstrapped in ${region} (no ${TOOLKIT_STACK} stack).`,
          fix: bootstrap,
        },
      ];
    }
    return [
      unknown(check, error, `aws cloudformation describe-stacks --stack-name ${TOOLKIT_STACK}`),
    ];
  }
  try {
    const { Parameter } = await clients.ssm.send(
      new GetParameterCommand({ Name: BOOTSTRAP_VERSION_PARAMETER }),
    );
    const version = Number(Parameter?.Value);
    if (!Number.isFinite(version) || version < MIN_BOOTSTRAP_VERSION) {
      return [
        {
          check,
          status: 'fail',
          message: `Bootstrap version ${Parameter?.Value ?? '(empty)'}; aws-cdk-lib needs ${MIN_BOOTSTRAP_VERSION} or later.`,
          fix: `${bootstrap} (upgrades the bootstrap stack in place).`,
        },
      ];
    }
    return [{ check, status: 'ok', message: `${TOOLKIT_STACK} bootstrap version ${version}` }];
  } catch (error) {
    if (errorName(error) === 'ParameterNotFound') {
      return [
        {
          check,
          status: 'fail',
          message: `${TOOLKIT_STACK} exists but ${BOOTSTRAP_VERSION_PARAMETER} does not (a custom qualifier, or a legacy bootstrap).`,
          fix: `${bootstrap} with the default qualifier.`,
        },
      ];
    }
    return [unknown(check, error, `aws ssm get-parameter --name ${BOOTSTRAP_VERSION_PARAMETER}`)];
  }
}

function unknown(check: string, error: unknown, command: string, subject?: string): CheckResult {
  return {
    check,
    ...(subject ? { subject } : {}),
    status: 'warn',
    message: `Could not check (${describeError(error)}).`,
    fix: isAccessDenied(error)
      ? `Your principal may not ask; check by hand: ${command}`
      : `Retry, or: ${command}`,
  };
}

const CREATE_LOGGING_ROLE =
  'create a role that apigateway.amazonaws.com may assume, with the managed policy ' +
  'AmazonAPIGatewayPushToCloudWatchLogs, then: aws apigateway update-account --patch-operations ' +
  'op=replace,path=/cloudwatchRoleArn,value=ROLE_ARN';

/**
 * API Gateway writes execution logs through ONE role per account and region
 * (`GetAccount.cloudwatchRoleArn`); a stage with logging deploys only when it is set and assumable.
 * A role owned by an app stack is deleted with that stack and leaves every other API's logging
 * pointing at nothing (issue 18, row 6).
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html
 */
export async function apiGatewayLoggingRoleCheck({
  clients,
  config,
}: CheckContext): Promise<CheckResult[]> {
  const check = 'api-gateway-logging-role';
  // With `manageApiGatewayAccountRole` (the default) the app deploys the role in a stack of its own
  // (Tierline-ApiGatewayAccount, retained on delete); without it the account must already have one.
  const managed = config.environment.manageApiGatewayAccountRole;
  let roleArn: string | undefined;
  try {
    roleArn = (await clients.apiGateway.send(new GetAccountCommand({}))).cloudwatchRoleArn;
  } catch (error) {
    return [unknown(check, error, 'aws apigateway get-account')];
  }
  if (!roleArn && managed) {
    return [
      {
        check,
        status: 'ok',
        message: `None yet: ${API_GATEWAY_ACCOUNT_STACK_NAME} creates it (cdk deploy puts it before the Api stack).`,
      },
    ];
  }
  if (!roleArn) {
    return [
      {
        check,
        status: 'fail',
        message:
          'API Gateway has no CloudWatch Logs role in this account and region: a stage with logging fails.',
        fix: `Set environment.manageApiGatewayAccountRole to true (the app deploys ${API_GATEWAY_ACCOUNT_STACK_NAME}), or once per account and region, ${CREATE_LOGGING_ROLE}.`,
      },
    ];
  }
  const roleName = roleArn.split('/').at(-1) ?? roleArn;
  try {
    await clients.iam.send(new GetRoleCommand({ RoleName: roleName }));
  } catch (error) {
    if (errorName(error) === 'NoSuchEntityException' || errorName(error) === 'NoSuchEntity') {
      return [
        {
          check,
          status: 'fail',
          message: `The account's API Gateway logging role ${roleArn} no longer exists (a deleted stack took it).`,
          fix: `Make a new one: ${CREATE_LOGGING_ROLE}.`,
        },
      ];
    }
    return [unknown(check, error, `aws iam get-role --role-name ${roleName}`)];
  }
  // CDK names a role it creates for a RestApi `<stack>-<api id>CloudWatchRole<hash>`.
  const owner = /^(Tierline-[a-z0-9-]+?-Api)-/.exec(roleName)?.[1];
  if (owner) {
    return [
      {
        check,
        status: 'warn',
        message: `${roleArn} belongs to stack ${owner}: destroying that stack breaks execution logging of every API in the account.`,
        fix: `Before destroying ${owner}, ${CREATE_LOGGING_ROLE}.`,
      },
    ];
  }
  if (managed && !roleName.startsWith(`${API_GATEWAY_ACCOUNT_STACK_NAME}-`)) {
    return [
      {
        check,
        status: 'warn',
        message: `The account already logs through ${roleArn}; deploying ${API_GATEWAY_ACCOUNT_STACK_NAME} replaces it with its own role.`,
        fix: 'To keep the existing role, set environment.manageApiGatewayAccountRole to false in your config file.',
      },
    ];
  }
  return [{ check, status: 'ok', message: roleArn }];
}

/**
 * The functions' reserved concurrency must fit the account's Lambda concurrency quota less the 100
 * executions Lambda keeps unreserved, or CloudFormation fails the Api stack ("Specified
 * ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below
 * its minimum value of [100]"). Synth checks the config against `environment.accountConcurrency`
 * (1,000 by default); some new accounts start lower, and only the account says which:
 * `GetAccountSettings.AccountLimit.ConcurrentExecutions`.
 * https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html
 */
export async function lambdaConcurrencyCheck({
  clients,
  config,
}: CheckContext): Promise<CheckResult[]> {
  const check = 'lambda-concurrency';
  const env = config.environment;
  const { authorizer, api, chat } = env.reservedConcurrency;
  const reserved = authorizer + api + (env.chatCompute.kind === 'lambda' ? chat : 0);
  let limit: number | undefined;
  let unreserved: number | undefined;
  try {
    const settings = await clients.lambda.send(new GetAccountSettingsCommand({}));
    limit = settings.AccountLimit?.ConcurrentExecutions;
    unreserved = settings.AccountLimit?.UnreservedConcurrentExecutions;
  } catch (error) {
    return [unknown(check, error, 'aws lambda get-account-settings')];
  }
  if (limit === undefined)
    return [
      unknown(check, new Error('no AccountLimit in the answer'), 'aws lambda get-account-settings'),
    ];
  const allowed = limit - UNRESERVED_CONCURRENCY;
  if (reserved > allowed) {
    return [
      {
        check,
        status: 'fail',
        message:
          `The account's Lambda concurrency is ${limit}; the functions reserve ${reserved} ` +
          `(authorizer ${authorizer}, api ${api}, chat ${env.chatCompute.kind === 'lambda' ? chat : 0}), more than ` +
          `the ${allowed} Lambda lets be reserved: the Api stack would fail.`,
        fix:
          'Request a higher "Concurrent executions" quota (Service Quotas, Lambda, L-B99A9384), or lower ' +
          `environment.reservedConcurrency and set environment.accountConcurrency to ${limit} in your config file.`,
      },
    ];
  }
  if (limit !== env.accountConcurrency) {
    return [
      {
        check,
        status: 'warn',
        message:
          `The account's Lambda concurrency is ${limit}, the config assumes ${env.accountConcurrency}; the ` +
          `reservations (${reserved}) fit${unreserved === undefined ? '' : ` (${unreserved} unreserved now)`}.`,
        fix: `Set environment.accountConcurrency to ${limit} in your config file so synth checks the right number.`,
      },
    ];
  }
  return [
    {
      check,
      status: 'ok',
      message: `reservations ${reserved} of ${allowed} reservable (account concurrency ${limit}); other functions' reservations in the account count too`,
    },
  ];
}
