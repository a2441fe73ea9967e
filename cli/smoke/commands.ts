import { type Command, InvalidArgumentError, Option } from 'commander';
import { positiveNumber } from '../command-runner';
import { OperatorError } from '../operator-errors';
import { apiRoot, formatSmokeReport, runSmoke } from './smoke';

export interface SmokeCommandDependencies {
  out: (text: string) => void;
  /** The HTTP client of the smoke test. @default global fetch */
  smokeFetch?: typeof fetch;
}

function url(value: string): string {
  try {
    apiRoot(value);
    return value;
  } catch {
    throw new InvalidArgumentError(
      'must be an http(s) URL, e.g. https://abc123.execute-api.eu-west-1.amazonaws.com/prod',
    );
  }
}

const seconds = (value: string) => positiveNumber(value) * 1000;

/** `tierline smoke`: after a deploy, does the API work for a customer? */
export function addSmokeCommand(program: Command, deps: SmokeCommandDependencies): void {
  program
    .command('smoke')
    .description(
      'after a deploy: use the API as a customer would, with the official openai and groq-sdk clients (plans, ' +
        'models, chat streamed and not, rate-limit headers, a wrong key, CORS, a file and a one-line batch, usage); ' +
        'deletes what it creates; exit 1 on any failed step',
    )
    .requiredOption(
      '--url <url>',
      'the API: its root or the openai base URL (the OpenAIBaseUrl output)',
      url,
    )
    .addOption(
      new Option('--key <key>', 'an API key (a Developer or Enterprise key also tests batches)')
        .env('TIERLINE_API_KEY')
        .makeOptionMandatory(),
    )
    .option('--model <id>', 'the model to call (default: the first one /v1/models lists)')
    .option('--origin <origin>', 'Origin of the CORS preflight (one the deployment allows)')
    .option('--request-timeout <seconds>', 'limit of one request', seconds)
    .option(
      '--batch-timeout <seconds>',
      'how long the batch may run before it is cancelled (default 180)',
      seconds,
    )
    .option(
      '--capacity-timeout <seconds>',
      'how long to wait for a model scaled to zero to start (503 + retry-after; default 480)',
      seconds,
    )
    .action(
      async (
        options: {
          url: string;
          key: string;
          model?: string;
          origin?: string;
          requestTimeout?: number;
          batchTimeout?: number;
          capacityTimeout?: number;
        },
        command: Command,
      ) => {
        const { json } = command.optsWithGlobals<{ json?: boolean }>();
        const report = await runSmoke({
          url: options.url,
          key: options.key,
          model: options.model,
          origin: options.origin,
          requestTimeoutMs: options.requestTimeout,
          batchTimeoutMs: options.batchTimeout,
          capacityTimeoutMs: options.capacityTimeout,
          fetch: deps.smokeFetch,
        });
        deps.out(json ? JSON.stringify(report, null, 2) : formatSmokeReport(report));
        if (!report.passed)
          throw new OperatorError(`smoke: ${report.summary.fail} step(s) failed.`, 'failed');
      },
    );
}
