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
