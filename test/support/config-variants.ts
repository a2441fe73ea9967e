/** Config overrides that switch on optional infrastructure, for the infra tests that check it. */

/** The chat function on Lambda Managed Instances: a VPC, endpoints and a capacity provider more to check. */
export const MANAGED_INSTANCES = {
  environment: {
    chatCompute: {
      kind: 'managed-instances',
      maxVCpuCount: 64,
      perExecutionEnvironmentMaxConcurrency: 64,
      memoryGiBPerVCpu: 2,
    },
  },
} as const;

/** E-mail sent through SES from a verified domain, with a configuration set (lib/constructs/mail/). */
export const MAIL_WITH_CONFIGURATION_SET = {
  from: 'Tierline <no-reply@mail.example.com>',
  identity: 'example.com',
  configurationSet: 'tierline-mail',
} as const;
