import { type SageMakerClient, StopTrainingJobCommand } from '@aws-sdk/client-sagemaker';
import {
  ExecutionAlreadyExists,
  type SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import type { JobRecord } from './jobs';
import { trainingJobName } from './sagemaker-names';

/** Where a job's training runs: the Step Functions workflow in AWS; nowhere in local mode without a trainer. */
export interface JobLauncher {
  /** Starts the job's workflow; idempotent by job id. Answers a failure when the job cannot run here. */
  start(
    job: JobRecord,
  ): Promise<{ started: true } | { started: false; code: string; message: string }>;
  /** Stops whatever runs the job (a cancelled job); nothing running is not an error. */
  stop(job: JobRecord): Promise<void>;
}

/** The execution of a job: `arn:...:execution:<state machine name>:<job id>`. */
export function executionArn(stateMachineArn: string, jobId: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${jobId}`;
}

/**
 * The state machine of `lib/constructs/fine-tuning/`. The execution is named after the job: a
 * retried start finds it (ExecutionAlreadyExists) instead of training twice. Stopping the execution
 * stops the training job too (the `.sync` integration does), and StopTrainingJob is sent as well,
 * so a job whose execution already ended its wait (or a lost stop) does not keep a GPU busy.
 */
export class StepFunctionsLauncher implements JobLauncher {
  constructor(
    private readonly options: {
      sfn: Pick<SFNClient, 'send'>;
      sagemaker: Pick<SageMakerClient, 'send'>;
      stateMachineArn: string;
      environmentName: string;
    },
  ) {}

  async start(job: JobRecord): Promise<{ started: true }> {
    try {
      await this.options.sfn.send(
        new StartExecutionCommand({
          stateMachineArn: this.options.stateMachineArn,
          name: job.jobId,
          input: JSON.stringify({ jobId: job.jobId }),
        }),
      );
    } catch (error) {
      // Same name and input: the earlier start of this job (a retry). Step Functions answers it
      // only when the input differs; both are the same job here.
      if (
        !(error instanceof ExecutionAlreadyExists) &&
        (error as Error).name !== 'ExecutionAlreadyExists'
      )
        throw error;
    }
    return { started: true };
  }

  async stop(job: JobRecord): Promise<void> {
    try {
      await this.options.sfn.send(
        new StopExecutionCommand({
          executionArn: executionArn(this.options.stateMachineArn, job.jobId),
          cause: 'The fine-tuning job was cancelled by its owner',
        }),
      );
    } catch (error) {
      if ((error as Error).name !== 'ExecutionDoesNotExist') throw error;
    }
    try {
      await this.options.sagemaker.send(
        new StopTrainingJobCommand({
          TrainingJobName: trainingJobName(this.options.environmentName, job.jobId),
        }),
      );
    } catch (error) {
      // Not created yet, or already ended: SageMaker answers ValidationException /
      // ResourceNotFound.
      const name = (error as Error).name;
      if (name !== 'ValidationException' && name !== 'ResourceNotFound') throw error;
    }
  }
}

/** Local mode without a trainer: the job fails at once, saying why, rather than pretending to train. */
export const NO_TRAINER: JobLauncher = {
  start: async () => ({
    started: false,
    code: 'trainer_not_configured',
    message:
      'Fine-tuning needs SageMaker training: this local mode has no trainer configured, so the job cannot run ' +
      'here. Deploy Tierline to AWS (npx cdk deploy) to train LoRA adapters; uploaded adapters work locally.',
  }),
  stop: async () => undefined,
};
