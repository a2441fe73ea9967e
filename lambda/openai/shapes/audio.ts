import * as z from 'zod/mini';

/**
 * Speech-to-text answers (https://platform.openai.com/docs/api-reference/audio): `json` and
 * `verbose_json` of transcriptions and translations; `text`, `srt` and `vtt` are plain text.
 */

export const transcriptionSegmentShape = z.object({
  id: z.int(),
  seek: z.int(),
  start: z.number(),
  end: z.number(),
  text: z.string(),
  tokens: z.array(z.int()),
  temperature: z.number(),
  avg_logprob: z.number(),
  compression_ratio: z.number(),
  no_speech_prob: z.number(),
});
export type TranscriptionSegment = z.output<typeof transcriptionSegmentShape>;

export const transcriptionWordShape = z.object({
  word: z.string(),
  start: z.number(),
  end: z.number(),
});
export type TranscriptionWord = z.output<typeof transcriptionWordShape>;

/** OpenAI's "Duration Usage": what the request is billed by (the billed seconds, 10 at least). */
export const audioDurationUsageShape = z.object({
  type: z.literal('duration'),
  seconds: z.number(),
});

export const transcriptionShape = z.object({
  text: z.string(),
  usage: z.optional(audioDurationUsageShape),
  /** Groq's request id, as chat completions carry it. */
  x_groq: z.optional(z.object({ id: z.string() })),
});
export type Transcription = z.output<typeof transcriptionShape>;

export const verboseTranscriptionShape = z.object({
  /** `verbose_json` only: the name of the language spoken (translations: always `english`). */
  task: z.optional(z.enum(['transcribe', 'translate'])),
  language: z.string(),
  /** Seconds of audio, as measured from the file. */
  duration: z.number(),
  text: z.string(),
  words: z.optional(z.array(transcriptionWordShape)),
  segments: z.optional(z.array(transcriptionSegmentShape)),
  usage: z.optional(audioDurationUsageShape),
  x_groq: z.optional(z.object({ id: z.string() })),
});
export type VerboseTranscription = z.output<typeof verboseTranscriptionShape>;
