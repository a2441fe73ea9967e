import * as z from 'zod/mini';
import { BadRequestError } from '../openai/errors';
import { bodySchema, field, optional } from '../openai/request-body';
import { LANGUAGE_NAMES } from './languages';

/**
 * The fields of `POST /audio/transcriptions` and `/audio/translations` (multipart/form-data), as
 * OpenAI and Groq take them. The file itself is read by the route (audio-duration.ts measures it).
 */

export type AudioTask = 'transcribe' | 'translate';
export const RESPONSE_FORMATS = ['json', 'text', 'verbose_json', 'srt', 'vtt'] as const;
export type AudioResponseFormat = (typeof RESPONSE_FORMATS)[number];
export type TimestampGranularity = 'word' | 'segment';

/** Whisper's prompt is at most 224 tokens; 1,000 characters is more than that in any language. */
export const MAX_PROMPT_CHARS = 1_000;

export interface AudioRequest {
  task: AudioTask;
  model: string;
  /** ISO-639-1 (`en`), transcriptions only; absent: the model detects it. */
  language?: string;
  prompt?: string;
  responseFormat: AudioResponseFormat;
  temperature: number;
  /** verbose_json only: `segment` (the default) and/or `word`. */
  timestampGranularities: TimestampGranularity[];
  /** The stored file (`user_data`) to transcribe instead of an uploaded `file`. */
  storedFileId?: string;
}

/**
 * A stored file named by `url`: its id, or the URL of its content in the Files API (any host: the
 * gateway reads it from its own storage, never fetches the URL).
 */
const STORED_FILE_REFERENCE =
  /^(?:[a-z]+:\/\/[^/?#]+(?:\/[^?#]*)?\/files\/)?(file-[A-Za-z0-9]{1,64})(?:\/content)?$/;

/** The file id a `url` field names (already checked by the schema). */
export function storedFileId(url: string): string {
  return STORED_FILE_REFERENCE.exec(url)?.[1] ?? url;
}

/** A form field holding a number, as clients send numbers in multipart bodies. */
const numberText = z.string().check(z.regex(/^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/));

const common = {
  model: field(
    z.string().check(z.minLength(1)),
    "Missing required parameter: 'model'.",
    'missing_required_parameter',
  ),
  prompt: field(
    optional(z.string().check(z.maxLength(MAX_PROMPT_CHARS))),
    `'prompt' must be a string of at most ${MAX_PROMPT_CHARS} characters.`,
    'invalid_value',
  ),
  response_format: field(
    optional(z.enum(RESPONSE_FORMATS)),
    (value) =>
      `'response_format' must be one of ${RESPONSE_FORMATS.join(', ')}; got '${String(value)}'.`,
    'invalid_value',
  ),
  temperature: field(
    optional(numberText.check(z.refine((text) => Number(text) >= 0 && Number(text) <= 1, 'range'))),
    "'temperature' must be a number between 0 and 1.",
    'invalid_value',
  ),
  // Groq's `url`, instead of `file`: here a reference to one of the caller's stored files.
  url: field(
    optional(z.string().check(z.regex(STORED_FILE_REFERENCE))),
    "'url' must name one of your files of purpose user_data: its id (file-...) or its " +
      '/v1/files/{file_id}/content URL.',
    'invalid_value',
  ),
};

const transcriptionFields = bodySchema(
  {
    ...common,
    language: field(
      // One of Whisper's own: another code would reach the model and fail there, or be ignored.
      optional(z.string().check(z.refine((code) => Object.hasOwn(LANGUAGE_NAMES, code)))),
      "'language' must be an ISO-639-1 code of a language Whisper knows, such as 'en'.",
      'invalid_language',
    ),
    'timestamp_granularities[]': field(
      optional(z.array(z.enum(['word', 'segment']))),
      "'timestamp_granularities[]' takes 'word' and/or 'segment'.",
      'invalid_value',
    ),
  },
  { unknownKeyLength: 64, checkedElsewhere: ['file'] },
);

const translationFields = bodySchema(common, {
  unknownKeyLength: 64,
  checkedElsewhere: ['file'],
});

/** The form's text fields as one object: repeated array fields as arrays, the file left out. */
export function formFields(form: FormData): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const name of new Set(form.keys())) {
    const values = form.getAll(name);
    if (name.endsWith('[]')) {
      fields[name] = values.map((value) => (typeof value === 'string' ? value : '(a file)'));
    } else {
      const value = values[0];
      // A file where text is expected fails the field's schema, which names the field.
      fields[name] = typeof value === 'string' ? value : {};
    }
  }
  return fields;
}

/** The request's settings, or the 400 of the first field that is wrong. */
export function parseAudioRequest(task: AudioTask, fields: Record<string, unknown>): AudioRequest {
  const checked =
    task === 'transcribe' ? transcriptionFields.check(fields) : translationFields.check(fields);
  const responseFormat = (checked.response_format ?? 'json') as AudioResponseFormat;
  const granularities = (fields['timestamp_granularities[]'] ?? []) as TimestampGranularity[];
  if (granularities.length > 0 && responseFormat !== 'verbose_json') {
    throw new BadRequestError(
      "'timestamp_granularities[]' needs 'response_format' verbose_json: timestamps are given only there.",
      { param: 'timestamp_granularities[]', code: 'invalid_value' },
    );
  }
  return {
    task,
    model: checked.model,
    language: (fields.language as string | undefined) || undefined,
    prompt: checked.prompt ?? undefined,
    responseFormat,
    temperature: checked.temperature == null ? 0 : Number(checked.temperature),
    timestampGranularities: [...new Set(granularities)],
    ...(checked.url ? { storedFileId: storedFileId(checked.url) } : {}),
  };
}
