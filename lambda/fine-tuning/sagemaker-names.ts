/**
 * SageMaker names of fine-tuning resources, derived from ids so every part (the API, the workflow,
 * the CDK app's IAM scoping) agrees without references. Letters, digits and dashes, at most 63
 * characters (TrainingJobName and InferenceComponentName limits).
 */

/** Prefix of every training job of an environment: IAM policies and the EventBridge rule match on it. */
export function trainingJobPrefix(env: string): string {
  return `tierline-${env}-ft-`;
}

/** `ftjob-<base62>` becomes `tierline-<env>-ft-<base62>`. */
export function trainingJobName(env: string, jobId: string): string {
  return `${trainingJobPrefix(env)}${jobId.replace(/^ftjob-/, '')}`.slice(0, 63);
}

/** The job id a training job of this environment belongs to; undefined for anyone else's job. */
export function jobIdOfTrainingJob(env: string, trainingJob: string): string | undefined {
  const prefix = trainingJobPrefix(env);
  return trainingJob.startsWith(prefix) ? `ftjob-${trainingJob.slice(prefix.length)}` : undefined;
}

/** Prefix of every adapter inference component of an environment. */
export function adapterComponentPrefix(env: string): string {
  return `tierline-${env}-lora-`;
}

/** The adapter component of one fine-tuned model (keyed by the model's short id). */
export function adapterComponentName(env: string, modelKey: string): string {
  return `${adapterComponentPrefix(env)}${modelKey}`.slice(0, 63);
}

export function stateMachineName(env: string): string {
  return `tierline-${env}-fine-tuning`;
}
