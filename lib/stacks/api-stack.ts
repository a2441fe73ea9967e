import { CfnOutput, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { StringParameter } from 'aws-cdk-lib/aws-ssm';
import type { Construct } from 'constructs';
import { CONSOLE_URL_PARAMETER_ENV, consoleUrlParameterName } from '../../lambda/accounts/invites';
import { SESSION_USAGE_KEY_ENV } from '../../lambda/accounts/session-settings';
import { tierPlanName, USAGE_PLANS_ENV } from '../../lambda/customers/tier-switch';
import { TIER_NAMES, type TierlineConfig } from '../config/schema';
import type { ConsoleUsers } from '../constructs/accounts/console-users';
import { managementArns } from '../constructs/api/management-arns';
import { TierUsagePlans } from '../constructs/api/tier-usage-plans';
import { TierlineApi } from '../constructs/api/tierline-api';
import { BatchProcessing } from '../constructs/batches/batch-processing';
import { BILLING_WEBHOOK_PATH, UsageBilling } from '../constructs/billing/usage-billing';
import { CustomerConsole } from '../constructs/console/customer-console';
import type { CustomersTable } from '../constructs/customers-table';
import type { FilesStore } from '../constructs/files/files-store';
import { grantAdapterServing } from '../constructs/fine-tuning/adapter-serving';
import type { FineTuningStore } from '../constructs/fine-tuning/fine-tuning-store';
import { FineTuningWorkflow } from '../constructs/fine-tuning/fine-tuning-workflow';
import { acknowledgeWildcards } from '../constructs/fine-tuning/nag-ids';
import { grantMailSending } from '../constructs/mail/mail-sending';
import type { LedgerDeadLetters } from '../constructs/metering/ledger-dead-letters';
import type { MeteringTable } from '../constructs/metering/metering-table';
import { UsageMetering } from '../constructs/metering/usage-metering';
import { ServiceAlarms } from '../constructs/monitoring/service-alarms';
import { type OperatorSettings, operatorParameterName } from '../operator-settings';

export interface ApiStackProps extends StackProps {
  readonly config: TierlineConfig;
  readonly customers: CustomersTable;
  readonly metering: MeteringTable;
  readonly ledgerDeadLetters: LedgerDeadLetters;
  readonly files: FilesStore;
  readonly fineTuning: FineTuningStore;
  /** The console's user pool: the authorizer accepts its access tokens as sessions. */
  readonly consoleUsers: ConsoleUsers;
}

/** The stateless API: functions, REST API, usage plans. Safe to destroy and redeploy. */
export class ApiStack extends Stack {
  public readonly api: TierlineApi;
  public readonly usagePlans: TierUsagePlans;
  public readonly usageMetering: UsageMetering;
  public readonly billing: UsageBilling;
  public readonly fineTuning: FineTuningWorkflow;
  public readonly batches: BatchProcessing;
  /** The customer console, and the API under the same origin. */
  public readonly console: CustomerConsole;
  /** Health alarms of the API, its functions, the tables, the workflow and the dead letters. */
  public readonly alarms: ServiceAlarms;

  constructor(scope: Construct, id: string, props: ApiStackProps) {
    super(scope, id, props);
    const { config } = props;

    this.api = new TierlineApi(this, 'Api', { config, customers: props.customers });
    this.usagePlans = new TierUsagePlans(this, 'UsagePlans', {
      config,
      api: this.api.restApi,
      stage: this.api.restApi.deploymentStage,
    });

    this.usageMetering = new UsageMetering(this, 'Metering', {
      config,
      metering: props.metering,
      ledgerDeadLetters: props.ledgerDeadLetters,
    });
    // Both API functions build the same app: metering (chat), usage and spend limits (the rest).
    for (const handler of [this.api.apiFunction, this.api.chatFunction]) {
      props.metering.bindForMetering(handler.function);
      props.ledgerDeadLetters.grantSend(handler.function);
      this.usageMetering.grantPublishEvents(handler.function);
    }
    props.customers.bindForItemUpdates(this.api.apiFunction.function);
    props.files.bindForFiles(this.api.apiFunction.function);
    // `POST /v1/responses` runs in the chat function: it stores the response and reads the earlier one.
    props.files.bindForStoredResponses(this.api.chatFunction.function);
    // `/v1/keys`: named keys are written and listed by the API function.
    props.customers.bindForKeyManagement(this.api.apiFunction.function);

    this.billing = this.addBilling(props);

    this.console = new CustomerConsole(this, 'Console', {
      config,
      api: this.api.restApi,
      signInClientId: props.consoleUsers.consoleClient.userPoolClientId,
    });
    this.addConsoleSessions(props);
    // Projects and the audit log: the administration API runs in the API function only.
    props.customers.bindForAdministration(this.api.apiFunction.function);
    this.addMembersAndInvites(props.customers, config.environment.name);

    this.fineTuning = new FineTuningWorkflow(this, 'FineTuning', {
      config,
      store: props.fineTuning,
      logRetention: config.environment.logRetentionDays,
      removalPolicy: config.environment.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    // The jobs API starts and stops the workflow; the workflow bills a job's training through the
    // ledger.
    this.fineTuning.grantJobsApi(this.api.apiFunction.function, config, props.fineTuning);
    const tasks = this.fineTuning.tasksFunction.function;
    props.metering.bindForMetering(tasks);
    props.ledgerDeadLetters.grantSend(tasks);
    this.usageMetering.grantPublishEvents(tasks);
    // Batches: the API queues work, the worker runs it with the same metering as chat completions.
    this.batches = new BatchProcessing(this, 'Batches', {
      config,
      notifications: this.usageMetering.notifications,
    });
    this.batches.bindSender(this.api.apiFunction.function);
    const worker = this.batches.worker;
    props.files.bindForFiles(worker.function);
    props.metering.bindForMetering(worker.function);
    props.ledgerDeadLetters.grantSend(worker.function);
    this.usageMetering.grantPublishEvents(worker.function);
    this.api.grantModelInvoke(config, worker);
    // Who e-mails: invitations (the API function), spend alerts where spend is settled (the API,
    // chat and batch-worker functions), billing's notices (the webhook and the hourly run).
    grantMailSending(this, config.mail, [
      ...[this.api.apiFunction, this.api.chatFunction, worker].map((f) => f.function),
      ...[this.billing.sender, this.billing.webhook].map((f) => f.function),
    ]);
    // Fine-tuned models: adapters registered and deleted by the API function, resolved by the chat
    // function and the batch worker.
    grantAdapterServing({
      config,
      store: props.fineTuning,
      apiFunction: this.api.apiFunction.function,
      chatFunction: this.api.chatFunction.function,
      batchWorker: worker.function,
    });

    this.alarms = new ServiceAlarms(this, 'Alarms', {
      topic: this.usageMetering.notifications,
      stage: this.api.restApi.deploymentStage,
      functions: [
        { id: 'Authorizer', function: this.api.authorizerFunction.function, alarmOnErrors: false },
        { id: 'Api', function: this.api.apiFunction.function },
        { id: 'Chat', function: this.api.chatFunction.function },
        { id: 'Aggregator', function: this.usageMetering.aggregator.function },
        // The reconciler's errors have an alarm of their own (UsageMetering): only its throttles
        // here.
        {
          id: 'Reconciler',
          function: this.usageMetering.reconciler.function,
          alarmOnErrors: false,
        },
        { id: 'FineTuningTasks', function: this.fineTuning.tasksFunction.function },
        { id: 'FineTuningEvents', function: this.fineTuning.eventsFunction.function },
        { id: 'BatchWorker', function: worker.function },
        // The sender's errors have an alarm of their own (UsageBilling): only its throttles here.
        { id: 'BillingSender', function: this.billing.sender.function, alarmOnErrors: false },
        { id: 'BillingWebhook', function: this.billing.webhook.function },
      ],
      tables: {
        Customers: props.customers.table,
        Metering: props.metering.table,
        Files: props.files.table,
        FineTuning: props.fineTuning.table,
      },
      stateMachine: this.fineTuning.stateMachine,
      // The ledger's and the batches' dead letters have alarms of their own (UsageMetering,
      // BatchProcessing).
      deadLetterQueues: { FineTuningEventsDeadLetters: this.fineTuning.eventsDeadLetters },
    });

    this.operatorSettingsAndOutputs(props);
  }

  /** What the operator CLI reads to find this deployment (an SSM parameter), and the stack's outputs. */
  /**
   * Members and invites, in the API function: their items in the customers table, and the
   * console's address (the invite's link) as an SSM parameter it reads when it sends an invite:
   * its environment cannot hold the address itself (function -> distribution -> stage ->
   * deployment -> methods -> function is a cycle CloudFormation refuses), the name breaks the
   * cycle. Accepting reads the user's verified address with Cognito's GetUser and the user's own
   * token: no IAM, and the pool is in the function's region.
   */
  private addMembersAndInvites(customers: CustomersTable, environmentName: string): void {
    customers.bindForMembers(this.api.apiFunction.function);
    const name = consoleUrlParameterName(environmentName);
    new StringParameter(this, 'ConsoleUrlParameter', {
      parameterName: name,
      description: 'Tierline: the customer console address (invitation links)',
      stringValue: this.console.url,
    });
    const fn = this.api.apiFunction.function;
    fn.addEnvironment(CONSOLE_URL_PARAMETER_ENV, name);
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['ssm:GetParameter'],
        resources: [
          Stack.of(this).formatArn({
            service: 'ssm',
            resource: 'parameter',
            resourceName: name.slice(1),
          }),
        ],
      }),
    );
  }

  private operatorSettingsAndOutputs(props: ApiStackProps): void {
    const { config } = props;
    const settings: OperatorSettings = {
      apiId: this.api.restApi.restApiId,
      stageName: this.api.restApi.deploymentStage.stageName,
      openAIBaseUrl: this.api.openAIBaseUrl,
      customersTableName: props.customers.table.tableName,
      meteringTableName: props.metering.table.tableName,
      filesTableName: props.files.table.tableName,
      filesBucketName: props.files.bucketName,
      ledgerDeadLetterQueueUrl: props.ledgerDeadLetters.queue.queueUrl,
      usagePlanIds: Object.fromEntries(
        Object.entries(this.usagePlans.plans).map(([tier, plan]) => [tier, plan.usagePlanId]),
      ),
    };
    const parameter = new StringParameter(this, 'OperatorSettings', {
      parameterName: operatorParameterName(config.environment.name),
      description: 'Tierline: what the operator CLI needs to find this deployment',
      stringValue: this.toJsonString(settings),
    });

    new CfnOutput(this, 'OpenAIBaseUrl', {
      value: this.api.openAIBaseUrl,
      description: 'baseURL for the openai client',
    });
    new CfnOutput(this, 'GroqBaseUrl', {
      value: this.api.groqBaseUrl,
      description: 'baseURL for the groq-sdk client',
    });
    new CfnOutput(this, 'ConsoleUrl', {
      value: this.console.url,
      description: 'The customer console; the API is also served here, same-origin, under /v1',
    });
    // What the console's sign-in pages call Cognito with (a public client: no secret to keep).
    new CfnOutput(this, 'ConsoleUserPoolId', {
      value: props.consoleUsers.userPool.userPoolId,
      description: "The console's Cognito user pool",
    });
    new CfnOutput(this, 'ConsoleUserPoolClientId', {
      value: props.consoleUsers.consoleClient.userPoolClientId,
      description: "The console's Cognito app client (public: no secret)",
    });
    new CfnOutput(this, 'NotificationsTopic', {
      value: this.usageMetering.notifications.topicArn,
      description: 'Subscribe an e-mail address: unbilled-usage alarms and spend-limit alerts',
    });
    new CfnOutput(this, 'OperatorParameter', {
      value: parameter.parameterName,
      description: 'SSM parameter read by `npx tierline --env ...`',
    });
  }

  /**
   * Console sessions: the authorizer verifies them as it checks keys (docs/decisions.md, "Console
   * sessions"), the API functions choose a session's organization from the user's memberships, and
   * the API function serves sign-up.
   */
  private addConsoleSessions(props: ApiStackProps): void {
    props.consoleUsers.bindForSessionVerification(this.api.authorizerFunction.function);
    this.api.authorizerFunction.function.addEnvironment(
      SESSION_USAGE_KEY_ENV,
      this.usagePlans.consoleSessionsKeyValue,
    );
    for (const handler of [this.api.apiFunction, this.api.chatFunction]) {
      props.customers.bindForMemberships(handler.function);
    }
    this.grantSignUp(props);
  }

  /**
   * Self-service sign-up in the API function (lambda/composition/aws-sign-up.ts): the address from
   * Cognito's GetUser (the user's own token, no IAM), the organization's customer, key and API
   * Gateway key made by the operator's creation code, its key put on the Free plan (found by name,
   * as billing's webhook does).
   */
  private grantSignUp(props: ApiStackProps): void {
    const fn = this.api.apiFunction.function;
    const env = props.config.environment.name;
    props.customers.bindForSignUp(fn);
    props.consoleUsers.bindForSessionVerification(fn);
    fn.addEnvironment(
      USAGE_PLANS_ENV,
      Stack.of(this).toJsonString({
        apiId: this.api.restApi.restApiId,
        stageName: env,
        usagePlanNames: Object.fromEntries(TIER_NAMES.map((t) => [t, tierPlanName(env, t)])),
      }),
    );
    const { usagePlans, apiKeys, apiKeyTags } = managementArns();
    const statements = [
      // GetUsagePlans (the Free plan by name) and GetApiKeys (an interrupted create's key, by name).
      new PolicyStatement({
        actions: ['apigateway:GET'],
        resources: [usagePlans, apiKeys],
      }),
      // CreateApiKey and CreateUsagePlanKey.
      new PolicyStatement({
        actions: ['apigateway:POST'],
        resources: [apiKeys, `${usagePlans}/*/keys`],
      }),
      // DeleteApiKey: a failed or interrupted create's key.
      new PolicyStatement({
        actions: ['apigateway:DELETE'],
        resources: [`${apiKeys}/*`],
      }),
      // CreateApiKey with tags (see managementArns).
      new PolicyStatement({
        actions: ['apigateway:PUT'],
        resources: [apiKeyTags],
      }),
    ];
    for (const statement of statements) fn.addToRolePolicy(statement);
    if (fn.role) {
      acknowledgeWildcards(
        fn.role,
        [`${usagePlans}/*/keys`, `${apiKeys}/*`, apiKeyTags],
        "A new organization's API Gateway key is made at sign-up and put on this stage's Free plan: " +
          'neither id exists before the request, so a policy cannot name it.',
      );
    }
  }

  /**
   * Usage billing (the hourly sender, Stripe's webhook and its route without a key, the Stripe
   * secret) and the API function's `/v1/billing`.
   */
  private addBilling(props: ApiStackProps): UsageBilling {
    const env = props.config.environment.name;
    const billing = new UsageBilling(this, 'Billing', {
      config: props.config,
      metering: props.metering,
      notifications: this.usageMetering.notifications,
      customers: props.customers,
      // By name and literal stage: the stage's deployment depends on the webhook's route, so
      // the webhook function cannot depend on the stage or its plans (a dependency cycle).
      usagePlans: {
        apiId: this.api.restApi.restApiId,
        stageName: env,
        usagePlanNames: Object.fromEntries(
          TIER_NAMES.map((tier) => [tier, tierPlanName(env, tier)]),
        ),
      },
    });
    this.api.addSignedWebhook(BILLING_WEBHOOK_PATH, billing.webhook.function);
    billing.grantBillingApi(this.api.apiFunction.function);
    return billing;
  }
}
