import type Groq from 'groq-sdk';
import type OpenAI from 'openai';

/** What the steps share: clients, settings, what they found, and what they created (removed at the end). */
export interface SmokeContext {
  root: string;
  key: string;
  openai: OpenAI;
  groq: Groq;
  fetch: typeof fetch;
  origin: string;
  requestTimeoutMs: number;
  batchTimeoutMs: number;
  capacityTimeoutMs: number;
  pollMs: number;
  model?: string;
  /** Headers of the non-streamed chat completion, for the rate-limit step. */
  chatHeaders?: Headers;
  /** The batch input file the file step uploaded. */
  inputFileId?: string;
  created: { files: string[] };
}

/** A step that could not run here (for example, the key's tier has no Batch API): reported, not failed. */
export class SkipStep extends Error {}

export interface SmokeStep {
  name: string;
  /** Answers the detail line of a pass; throws to fail (or {@link SkipStep} to skip). */
  run: (context: SmokeContext) => Promise<string>;
}
