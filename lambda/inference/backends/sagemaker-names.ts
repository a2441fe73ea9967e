/**
 * SageMaker resource names of a model, shared by the CDK inference stack (which creates them) and
 * the SageMaker backend (which invokes them). Names are deterministic, so the API stack needs no
 * reference to the inference stack: an operator can destroy the GPU stack to stop its cost, and the
 * API answers 503. SageMaker names allow letters, digits and dashes only, at most 63 characters.
 */
export function sagemakerSlug(modelId: string): string {
  return modelId.replace(/[^a-zA-Z0-9-]/g, '-');
}

export function endpointName(env: string, modelId: string): string {
  return `tierline-${env}-${sagemakerSlug(modelId)}`.slice(0, 63);
}

/** The inference component of a base model. */
export function inferenceComponentName(env: string, modelId: string): string {
  return `tierline-${env}-${sagemakerSlug(modelId)}-base`.slice(0, 63);
}

/**
 * The second inference component of a speech model that translates: its container's
 * `/invocations` is vLLM's translation route (one handler per container, speech-endpoint.ts).
 */
export function translationComponentName(env: string, modelId: string): string {
  return `tierline-${env}-${sagemakerSlug(modelId)}-translate`.slice(0, 63);
}

/** The inference components of a speech model's endpoint: transcription, and translation if it translates. */
export function speechComponentNames(env: string, modelId: string, translates: boolean): string[] {
  const transcription = inferenceComponentName(env, modelId);
  return translates ? [transcription, translationComponentName(env, modelId)] : [transcription];
}
