import Groq from 'groq-sdk';
import OpenAI from 'openai';
import { apiSteps } from './api-steps';
import { batchSteps, cleanupStep } from './batch-steps';
import { SkipStep, type SmokeContext, type SmokeStep } from './step';

export type StepStatus = 'pass' | 'fail' | 'skip';

export interface StepResult {
  step: string;
  status: StepStatus;
  detail: string;
  ms: number;
}

export interface SmokeReport {
  url: string;
  model: string | null;
  passed: boolean;
  steps: StepResult[];
  summary: Record<StepStatus, number>;
}

export interface SmokeOptions {
  /** The deployment's URL: its root, or the openai base URL (ending in `/v1`). */
  url: string;
  key: string;
  /** The model to call. @default the first catalog model `/v1/models` lists */
  model?: string;
  /** Origin of the CORS preflight. @default https://smoke.tierline.invalid (allowed where `*` is) */
  origin?: string;
  /** One request's limit. @default 60 s */
  requestTimeoutMs?: number;
  /** How long the batch may take before it is cancelled. @default 180 s */
  batchTimeoutMs?: number;
  /** How long to wait for a model scaled to zero (503 + retry-after) to come up. @default 480 s */
  capacityTimeoutMs?: number;
  /** Pause between polls of the batch. @default 1 s */
  pollMs?: number;
  /** The HTTP client of both SDKs and of the plain requests (tests check answers against the spec). */
  fetch?: typeof fetch;
}

/** The API's root: the URL without a trailing `/`, `/v1` or `/openai/v1`. */
export function apiRoot(url: string): string {
  const parsed = new URL(url);
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new Error('must be an http(s) URL');
  return parsed.href.replace(/\/+$/, '').replace(/\/(openai\/)?v1$/, '');
}

function summarize(steps: StepResult[]): Record<StepStatus, number> {
  const summary: Record<StepStatus, number> = { pass: 0, fail: 0, skip: 0 };
  for (const step of steps) summary[step.status] += 1;
  return summary;
}

/**
 * Drives a deployment (or local mode) with the official `openai` and `groq-sdk` clients as a
 * customer would: plans, models, chat (streamed and not, usage), rate-limit headers, a wrong key, a
 * CORS preflight, a file and a one-line batch, usage. Every step runs even when one before failed;
 * whatever it created is deleted at the end, also when a step failed.
 */
export async function runSmoke(options: SmokeOptions): Promise<SmokeReport> {
  const root = apiRoot(options.url);
  const requestTimeoutMs = options.requestTimeoutMs ?? 60_000;
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const context: SmokeContext = {
    root,
    key: options.key,
    // No retries: a smoke test reports what the first answer was (the capacity wait is explicit).
    openai: new OpenAI({
      apiKey: options.key,
      baseURL: `${root}/v1`,
      maxRetries: 0,
      timeout: requestTimeoutMs,
      fetch: fetchImpl,
    }),
    // groq-sdk appends /openai/v1 to its base URL.
    groq: new Groq({
      apiKey: options.key,
      baseURL: root,
      maxRetries: 0,
      timeout: requestTimeoutMs,
      fetch: fetchImpl,
    }),
    fetch: fetchImpl,
    origin: options.origin ?? 'https://smoke.tierline.invalid',
    requestTimeoutMs,
    batchTimeoutMs: options.batchTimeoutMs ?? 180_000,
    capacityTimeoutMs: options.capacityTimeoutMs ?? 480_000,
    pollMs: options.pollMs ?? 1_000,
    model: options.model,
    created: { files: [] },
  };

  const steps: StepResult[] = [];
  const run = async (step: SmokeStep) => {
    const started = Date.now();
    try {
      const detail = await step.run(context);
      steps.push({ step: step.name, status: 'pass', detail, ms: Date.now() - started });
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      steps.push({
        step: step.name,
        status: error instanceof SkipStep ? 'skip' : 'fail',
        detail,
        ms: Date.now() - started,
      });
    }
  };
  try {
    for (const step of [...apiSteps, ...batchSteps]) await run(step);
  } finally {
    await run(cleanupStep);
  }
  const summary = summarize(steps);
  return { url: root, model: context.model ?? null, passed: summary.fail === 0, steps, summary };
}

const LABEL: Record<StepStatus, string> = { pass: 'PASS', fail: 'FAIL', skip: 'SKIP' };

export function formatSmokeReport(report: SmokeReport): string {
  const width = Math.max(...report.steps.map((s) => s.step.length));
  const lines = [
    `Tierline smoke test of ${report.url} (model ${report.model ?? 'none found'})`,
    '',
  ];
  for (const step of report.steps) {
    lines.push(`${LABEL[step.status]}  ${step.step.padEnd(width)}  ${step.detail} (${step.ms} ms)`);
  }
  const { pass, fail, skip } = report.summary;
  lines.push(
    '',
    `${pass} passed, ${fail} failed, ${skip} skipped.${report.passed ? '' : ' The deployment is not healthy.'}`,
  );
  return lines.join('\n');
}
